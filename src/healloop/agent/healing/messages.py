"""What a failure message says was not found: the locator as each runner prints it.

Playwright prints its call log with the locator in the test's language (``getByTestId('x')`` or
``get_by_test_id("x")``); Cypress, Testing Library and Selenium each have their own sentence.
"""

from __future__ import annotations

import re

from healloop.agent.healing.locators import (
    ALT,
    CONTAINS,
    CSS,
    CYPRESS,
    LABEL,
    LINK_TEXT,
    PARTIAL_LINK_TEXT,
    PLACEHOLDER,
    PLAYWRIGHT,
    ROLE,
    SELENIUM,
    TESTID,
    TEXT,
    TITLE,
    XPATH,
    Locator,
    Step,
    _css_or_xpath,
    steps_from_selector,
)
from healloop.agent.healing.reader import SpecReader

_PW_WAITING = re.compile(r"waiting for (?P<loc>(?:locator|getBy\w+|get_by_\w+|frame_?[Ll]ocator)\(.*)$", re.M)
_PW_LOCATOR_LINE = re.compile(r"^\s*Locator:\s+(?P<loc>.+)$", re.M)
_PW_SELECTOR = re.compile(
    r"""waiting for (?:selector\s+)?(?P<q>["'])(?P<s>.+?)(?P=q)(?:\s+to be \w+)?\s*$""", re.M
)
_CY_ELEMENT = re.compile(r"Expected to find element:\s*`?(?P<s>.+?)`?,\s*but never found it", re.S)
# cy.contains's four forms: "... 'Save' but never did", "... within the selector: 'button' ...", and
# inside .within(): "... within the element: <li#item-3.menu-item> ..." with, when contains was given a
# selector, "and with the selector: 'button'". The element is the .within() subject, read from the spec.
_CY_CONTENT = re.compile(
    r"Expected to find content:\s*(?P<q>['\"])(?P<t>.*?)(?P=q)(?:\s*within the element:\s*<[^<>]*>)?"
    r"(?:\s*(?:within|and with) the selector:\s*(?P<q2>['\"`]?)(?P<s>.*?)(?P=q2))?\s*but never did",
    re.S,
)
_TL = [
    (
        re.compile(
            r'Unable to find an (?:accessible )?element with the role "(?P<v>[^"]+)"(?: and name '
            r'(?:"(?P<n>[^"]*)"|`(?P<nr>/.*?/\w*)`|(?P<nr2>/.*?/\w*)))?'
        ),
        ROLE,
    ),
    (re.compile(r"Unable to find an element by: \[data-testid=\"(?P<v>[^\"]+)\"\]"), TESTID),
    (re.compile(r"Unable to find an element with the text: (?P<v>.+?)\. This could be"), TEXT),
    (re.compile(r"Unable to find an element with the text: (?P<v>.+?)$", re.M), TEXT),
    (re.compile(r"Unable to find a label with the text of: (?P<v>.+?)$", re.M), LABEL),
    (re.compile(r"Found a label with the text of: (?P<v>.+?), however no form control", re.M), LABEL),
    (re.compile(r"Unable to find an element with the placeholder text of: (?P<v>.+?)$", re.M), PLACEHOLDER),
    (re.compile(r"Unable to find an element with the alt text: (?P<v>.+?)$", re.M), ALT),
    (re.compile(r"Unable to find an element with the title: (?P<v>.+?)\.?$", re.M), TITLE),
]
# selenium-webdriver (JS): driver.wait(until.elementLocated(By.id('x'))) timing out.
_SELENIUM_JS_WAIT = re.compile(r"Waiting for element to be located By\((?P<m>[^,]+), (?P<s>.*)\)\s*$", re.M)
_SELENIUM = re.compile(
    r"""Unable to locate element:\s*\{\s*"method"\s*:\s*"(?P<m>[^"]+)"\s*,"""
    r"""\s*"selector"\s*:\s*"(?P<s>.*?)"\s*\}"""
)


def from_message(message: str, flavor: str) -> list[Locator]:
    """The locators a failure message says found nothing, most specific first."""
    text = message or ""
    found: list[Locator] = []
    for m in list(_PW_WAITING.finditer(text)) + list(_PW_LOCATOR_LINE.finditer(text)):
        loc = _parse_printed(m.group("loc").strip(), flavor)
        if loc is not None:
            found.append(loc)
    for m in _PW_SELECTOR.finditer(text):
        found.append(Locator(steps_from_selector(m.group("s"), PLAYWRIGHT), PLAYWRIGHT))
    m = _CY_ELEMENT.search(text)
    if m:
        found.append(Locator((_css_or_xpath(m.group("s").strip()),), CYPRESS))
    m = _CY_CONTENT.search(text)
    if m:
        found.append(Locator((Step(CONTAINS, m.group("s") or "", m.group("t")),), CYPRESS))
    for pattern, kind in _TL:
        m = pattern.search(text)
        if m:
            value = m.group("v").strip()
            if kind == ROLE:
                regex = m.group("nr") or m.group("nr2")
                if regex:
                    rm = re.fullmatch(r"/(.*)/(\w*)", regex)
                    step = Step(ROLE, value, rm.group(1) if rm else regex, True, rm.group(2) if rm else "")
                else:
                    step = Step(ROLE, value, m.group("n"), True)
            else:
                rm = re.fullmatch(r"/(.*)/(\w*)", value)
                step = (
                    Step(kind, rm.group(1), exact=True, regex=rm.group(2))
                    if rm
                    else Step(kind, value, exact=True)
                )
            found.append(Locator((step,), CYPRESS if flavor == CYPRESS else flavor))
            break
    m = _SELENIUM.search(text) or _SELENIUM_JS_WAIT.search(text)
    if m:
        sel = m.group("s").replace('\\"', '"')
        method = m.group("m").lower()
        step = {
            "css selector": Step(CSS, sel),
            "xpath": Step(XPATH, sel),
            "id": Step("id", sel),
            "name": Step("name", sel),
            "link text": Step(LINK_TEXT, sel),
            "partial link text": Step(PARTIAL_LINK_TEXT, sel),
            "tag name": Step(CSS, sel),
            "class name": Step(CSS, "." + sel),
        }.get(method)
        if step is not None:
            found.append(Locator((step,), SELENIUM))
    unique: dict[str, Locator] = {}
    for loc in found:
        unique.setdefault(loc.key(), loc)
    return list(unique.values())


def _parse_printed(printed: str, flavor: str) -> Locator | None:
    """A locator as Playwright prints it in a call log (JS or Python style)."""
    lang = "py" if re.search(r"get_by_|frame_locator|\bname=|exact=", printed) else "js"
    reader = SpecReader(printed, flavor=PLAYWRIGHT, lang=lang)
    uses = [u for u in reader._chain_uses() if u.start == 0 or printed[: u.start].strip() == ""]
    if not uses:
        return None
    use = max(uses, key=lambda u: u.end - u.start)
    return Locator(use.locator.steps, flavor if flavor != SELENIUM else PLAYWRIGHT)
