"""Every locator a spec builds: Playwright chains (JS and Python), Cypress and Testing Library
queries, Selenium ``By`` pairs, and selector strings kept in constants; each with the exact spans of
its calls and what the test then does with the element (fill, click, check, select, read), followed
through variables and page-object properties.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property

from healloop.agent.healing.helpers import enclosing_helper, helper_of
from healloop.agent.healing.locators import (
    _BY_KINDS,
    _CY_METHODS,
    _PW_METHODS,
    _PW_SELECTOR_ACTIONS,
    _SELENIUM_OLD,
    _TL_METHODS,
    CSS,
    CYPRESS,
    HAS_TEXT,
    NTH,
    PLAYWRIGHT,
    SELENIUM,
    Locator,
    Step,
    Use,
    _by_step,
    _css_or_xpath,
    by_name,
    holes,
    looks_like_css,
    looks_like_xpath,
    step_of_call,
    steps_from_selector,
    structural,
)
from healloop.agent.healing.source import Arg, Call, Literal, Source, number

# What the test does with the element, by the method called on it or the assertion made about it.
_ACTIONS = {
    "fill": "fill",
    "type": "fill",
    "pressSequentially": "fill",
    "press_sequentially": "fill",
    "clear": "fill",
    "send_keys": "fill",
    "sendKeys": "fill",
    "inputValue": "fill",
    "input_value": "fill",
    "press": "fill",
    "click": "click",
    "dblclick": "click",
    "tap": "click",
    "hover": "click",
    "rightclick": "click",
    "trigger": "click",
    "submit": "click",
    "check": "check",
    "uncheck": "check",
    "setChecked": "check",
    "set_checked": "check",
    "isChecked": "check",
    "is_checked": "check",
    "is_selected": "check",
    "isSelected": "check",
    "selectOption": "select",
    "select_option": "select",
    "select": "select",
    "select_by_visible_text": "select",
    "select_by_value": "select",
    "select_by_index": "select",
    "selectByVisibleText": "select",
    "textContent": "read",
    "text_content": "read",
    "innerText": "read",
    "inner_text": "read",
    "allTextContents": "read",
    "all_text_contents": "read",
    "getText": "read",
    "text": "read",
    "invoke": "read",
    "isEnabled": "enable",
    "is_enabled": "enable",
    "isDisabled": "enable",
    "is_disabled": "enable",
}
_ASSERTIONS = {
    "toBeChecked": "check",
    "to_be_checked": "check",
    "toHaveValue": "fill",
    "to_have_value": "fill",
    "toBeEditable": "fill",
    "to_be_editable": "fill",
    "toHaveText": "read",
    "to_have_text": "read",
    "toContainText": "read",
    "to_contain_text": "read",
    # Only a control can be disabled: a link that reads the same is never what toBeDisabled meant.
    "toBeDisabled": "enable",
    "to_be_disabled": "enable",
    "toBeEnabled": "enable",
    "to_be_enabled": "enable",
}
_SHOULD = [
    (re.compile(r"be\.checked|not\.be\.checked"), "check"),
    (re.compile(r"have\.value"), "fill"),
    (re.compile(r"have\.text|contain\.text|^contain$|include\.text"), "read"),
    (re.compile(r"be\.disabled|be\.enabled"), "enable"),
]

_CHAIN_MODIFIERS = {"first", "last", "nth", "eq", "filter"}


class SpecReader:
    """Every locator use in one spec file."""

    def __init__(self, text: str, *, flavor: str, lang: str) -> None:
        self.src = Source(text, lang)
        self.flavor, self.lang = flavor, lang

    def uses(self) -> list[Use]:
        out = self._selenium_uses() if self.flavor == SELENIUM else self._chain_uses()
        covered = [(u.start, u.end) for u in out]
        out += [u for u in self._literal_uses() if not any(a <= u.start < b for a, b in covered)]
        for use in out:
            self._intent(use)
            self._template(use)
        return sorted(out, key=lambda u: u.start)

    def _template(self, use: Use) -> None:
        """Note a one-step locator whose selector is a template literal or an f-string."""
        if len(use.locator.steps) != 1 or not use.origins:
            return
        call_i, _ = use.origins[0]
        call = use.calls[call_i]
        arg = use.by_args[1] if use.by_args else (call.arg(0) if call.name else call.args[0])
        lit = arg.literal if arg is not None else None
        if lit is None:
            return
        found = holes(lit)
        if found:
            use.template = lit
            use.placeholders = [m.group(1) for m in found]

    # Playwright and Cypress: chains of calls
    def _chain_uses(self) -> list[Use]:
        names = set(_TL_METHODS) | _CHAIN_MODIFIERS
        if self.flavor == PLAYWRIGHT:
            names |= set(_PW_METHODS) | set(_PW_SELECTOR_ACTIONS) | {"frameLocator", "frame_locator"}
        else:
            names |= set(_CY_METHODS)
        calls = self.src.calls(names)
        by_end = {c.end: c for c in calls}
        consumed: set[int] = set()
        uses: list[Use] = []
        # Walk from the last call of each chain back to its first.
        for call in reversed(calls):
            if call.start in consumed:
                continue
            chain = [call]
            while chain[0].dot >= 0:
                prev = by_end.get(self.src.skip_ws_back(chain[0].dot))
                if prev is None:
                    break
                chain.insert(0, prev)
            for c in chain:
                consumed.add(c.start)
            use = self._use_of_chain(chain)
            if use is not None:
                uses.append(use)
        return uses

    def _use_of_chain(self, chain: list[Call]) -> Use | None:
        steps: list[Step] = []
        kept: list[Call] = []
        origins: list[tuple[int, int | None]] = []
        action, typed = None, None
        for call in chain:
            if call.name in _CHAIN_MODIFIERS:
                if not steps:
                    continue
                step = self._modifier(call)
                if step is not None:
                    steps.append(step)
                    origins.append((len(kept), None))
                    kept.append(call)
                continue
            if (
                self.flavor == PLAYWRIGHT
                and call.name in _PW_SELECTOR_ACTIONS
                and call.name not in _PW_METHODS
            ):
                # page.click('#pay'): the selector is the first argument, the method is the action.
                if steps or call.arg(0) is None or call.arg(0).value is None:
                    continue
                if not self._page_receiver(call):
                    continue
                parts = steps_from_selector(call.arg(0).value, self.flavor)
                origins += [(len(kept), i) for i in range(len(parts))]
                steps += parts
                kept.append(call)
                action = _PW_SELECTOR_ACTIONS[call.name]
                if action == "fill" and call.arg(1) is not None:
                    typed = call.arg(1).value
                break
            if call.name in ("frameLocator", "frame_locator"):
                steps, kept, origins = [], [], []  # a frame is another document: not our snapshot
                continue
            call = self._constants_in(call)
            step = step_of_call(call, self.flavor)
            if step is None:
                if steps:
                    break
                continue
            if step.kind == CSS and self.flavor == PLAYWRIGHT:
                parts = steps_from_selector(step.value, self.flavor)
                origins += [(len(kept), i) for i in range(len(parts))]
                steps += parts
                # page.locator("tr", has_text="SKU-1") filters as .filter(has_text=...) does.
                narrowing = self._modifier(replace(call, name="filter"))
                if narrowing is not None and call.name == "locator":
                    steps.append(narrowing)
                    origins.append((len(kept), None))
            else:
                origins.append((len(kept), None if step.kind != CSS else 0))
                steps.append(step)
            kept.append(call)
        if not steps:
            return None
        use = self._finish(steps, kept, action, typed)
        use.origins = origins
        return use

    @cached_property
    def _constants(self) -> dict[str, Literal]:
        """Names the file assigns one plain string literal, once: UNIT_SEARCH = "Search units by
        number", const SAVE = 'Save'. A getBy* call that names one (get_by_placeholder(UNIT_SEARCH))
        is read, and healed, as if it held the literal: the heal edits the constant."""
        found: dict[str, list[Literal | None]] = {}
        pattern = (r"^[ \t]*([A-Za-z_]\w*)[ \t]*(?::[ \t]*str[ \t]*)?=[ \t]*(?=\S)" if self.lang == "py"
                   else r"\b(?:const|let|var)[ \t]+([A-Za-z_$][\w$]*)[ \t]*=[ \t]*(?=\S)")
        for m in re.finditer(pattern, self.src.text, re.M):
            if not self.src.in_code(m.start(1)):
                continue
            lit = self.src.literal_at(m.end())
            plain = lit is not None and not holes(lit) and re.match(r"[ \t]*[;,]?[ \t]*(?:#.*|//.*)?$",
                                                                   self.src.text[lit.end:].split("\n", 1)[0])
            found.setdefault(m.group(1), []).append(lit if plain else None)
        return {name: lits[0] for name, lits in found.items() if len(lits) == 1 and lits[0] is not None}

    def _constants_in(self, call: Call) -> Call:
        """The call with each bare name among its arguments (and a JS options object's fields) that
        names one of ``_constants`` given that constant's literal."""
        def resolved(arg: Arg) -> Arg:
            name = arg.text.strip()
            if arg.literal is None and arg.regex is None and not arg.fields and name in self._constants:
                return replace(arg, literal=self._constants[name])
            if arg.fields:
                return replace(arg, fields={k: resolved(v) for k, v in arg.fields.items()})
            return arg

        # Only the getBy* family: a selector kept in a constant (page.locator(TREND)) is read where it
        # is defined, as a selector literal, and a second reading would double its uses.
        if not call.name.startswith(("getBy", "get_by_", "findBy", "findAllBy", "queryBy")):
            return call
        args = [resolved(a) for a in call.args]
        return call if args == call.args else replace(call, args=args)

    def _page_receiver(self, call: Call) -> bool:
        """page.click(sel) takes a selector; locator.click(options) does not."""
        if call.dot < 0:
            return False
        before = self.src.text[max(0, call.dot - 40) : call.dot]
        return bool(re.search(r"(?:page|frame|Page|self\.page|this\.page)\s*$", before))

    def _modifier(self, call: Call) -> Step | None:
        if call.name == "first":
            return Step(NTH, index=0)
        if call.name == "last":
            return Step(NTH, index=-1)
        if call.name in ("nth", "eq"):
            arg = call.arg(0)
            idx = number(arg.text) if arg is not None else None
            return Step(NTH, index=idx) if idx is not None else None
        if call.name == "filter":
            opt = call.option("hasText") or call.option("has_text")
            if opt is not None and (opt.value is not None or opt.regex is not None):
                value = opt.value if opt.value is not None else opt.regex.pattern  # type: ignore[union-attr]
                return Step(HAS_TEXT, value, regex=opt.regex.flags if opt.regex else None)
        return None

    def _finish(self, steps: list[Step], calls: list[Call], action: str | None, typed: str | None) -> Use:
        start, end = calls[0].start, calls[-1].end
        return Use(
            Locator(tuple(steps), self.flavor),
            calls,
            start,
            end,
            self.src.line_of(start),
            action=action,
            typed=typed,
        )

    # Selenium: find_element(By.X, "v"), findElement(By.x('v')), (By.X, "v") tuples
    def _selenium_uses(self) -> list[Use]:
        uses: list[Use] = []
        text = self.src.text
        # Python: By.ID, "value" inside any call or tuple.
        for m in re.finditer(r"By\s*\.\s*([A-Z_]+)\s*,\s*", text):
            if not self.src.in_code(m.start()):
                continue
            lit = self.src.literal_at(m.end())
            if lit is None:
                continue
            step = _by_step(m.group(1), lit.value)
            if step is None:
                continue
            kind_arg = Arg(m.start(), m.start() + len(m.group(0).rstrip(", \n")), m.group(0).rstrip(", \n"))
            value_arg = Arg(lit.start, lit.end, text[lit.start : lit.end], literal=lit)
            call = Call("By", m.start(), lit.end, [kind_arg, value_arg])
            uses.append(
                Use(
                    Locator((step,), SELENIUM),
                    [call],
                    m.start(),
                    lit.end,
                    self.src.line_of(m.start()),
                    by_args=(kind_arg, value_arg),
                    origins=[(0, None)],
                )
            )
        # JavaScript: By.id('value'), By.css('...'), ...
        for call in self.src.calls(set(_BY_KINDS) | set(_SELENIUM_OLD)):
            if call.name in _SELENIUM_OLD:
                if call.arg(0) is None or call.arg(0).value is None:
                    continue
                step = Step(_SELENIUM_OLD[call.name], call.arg(0).value)
                if step.kind == "class_name":
                    step = Step(CSS, "." + step.value)
            else:
                before = text[max(0, call.start - 8) : call.start]
                if not re.search(r"By\s*\.\s*$", before) or call.arg(0) is None or call.arg(0).value is None:
                    continue
                step = _by_step(call.name, call.arg(0).value)
            if step is None:
                continue
            uses.append(
                Use(
                    Locator((step,), SELENIUM),
                    [call],
                    call.start,
                    call.end,
                    self.src.line_of(call.start),
                    origins=[(0, None)],
                )
            )
        return uses

    # A selector kept in a string constant: EMAIL = "[data-testid=email]"
    def _literal_uses(self) -> list[Use]:
        uses = self._joined_uses()
        joined = [(u.start, u.end) for u in uses]
        for lit in self.src.literals:
            if any(a <= lit.start < b for a, b in joined):
                continue  # a piece of a joined selector: the joined one is the use
            lit = self._format_template(lit)
            value = lit.value
            engine = re.match(r"^(?:css|xpath|text|id|data-testid|data-test-id|data-test)=", value)
            pw_engine = engine is not None and self.flavor == PLAYWRIGHT
            if not (looks_like_css(_filled(lit)) or looks_like_xpath(value) or pw_engine):
                continue
            steps = (
                steps_from_selector(value, self.flavor)
                if self.flavor == PLAYWRIGHT
                else (_css_or_xpath(value),)
            )
            call = Call(
                "",
                lit.start,
                lit.end,
                [Arg(lit.start, lit.end, self.src.text[lit.start : lit.end], literal=lit)],
            )
            uses.append(
                Use(
                    Locator(steps, self.flavor),
                    [call],
                    lit.start,
                    lit.end,
                    self.src.line_of(lit.start),
                    literal_only=True,
                    origins=[(0, i) for i in range(len(steps))],
                )
            )
        return uses

    def _joined_uses(self) -> list[Use]:
        """Python selector constants joined from pieces: ``RENEW = ROW + "//button[text()='Renew']"``
        with ``ROW`` a constant of its own, or ``("//table..." "//a[...]")`` split over lines. One use
        for the whole; a heal may change only a piece written here, never the constant it names."""
        if self.lang != "py":
            return []
        text, starts = self.src.text, {lit.start: lit for lit in self.src.literals}
        constants: dict[str, str] = {}
        uses = []
        for m in re.finditer(r"^[ \t]*([A-Za-z_]\w*)\s*=[ \t]*", text, re.M):
            pieces: list[tuple[Literal | None, str]] = []
            pos, depth, joined = m.end(), 0, False
            while pos < len(text):
                while pos < len(text) and (text[pos] in " \t" or (depth and text[pos] in "\r\n")):
                    pos += 1
                if pos < len(text) and text[pos] == "(" and not pieces:
                    depth, pos = depth + 1, pos + 1
                    continue
                lit = starts.get(pos)
                name = _NAME.match(text, pos) if lit is None else None
                if lit is not None and not lit.prefix:
                    pieces.append((lit, lit.value))
                    pos = lit.end
                elif name and name.group(0) in constants:
                    pieces.append((None, constants[name.group(0)]))
                    pos = name.end()
                else:
                    break
                after = _PLUS.match(text, pos)
                if after:
                    pos, joined = after.end(), True
                elif depth and _QUOTE_NEXT.match(text, pos):
                    joined = True  # ("..." "..."): Python joins adjacent literals
                else:
                    break
            if depth and not _CLOSE_NEXT.match(text, pos):
                continue
            if len(pieces) == 1 and pieces[0][0] is not None:
                constants[m.group(1)] = pieces[0][1]
            if not joined or len(pieces) < 2 or not any(lit for lit, _ in pieces):
                continue
            value = "".join(v for _, v in pieces)
            constants[m.group(1)] = value
            first = next(lit for lit, _ in pieces if lit is not None)
            whole = self._format_template(Literal(value, m.end(), pos, first.quote))
            if not (looks_like_xpath(value) or looks_like_css(_filled(whole))):
                continue
            arg = Arg(whole.start, whole.end, text[whole.start : whole.end], literal=whole)
            call = Call("", whole.start, whole.end, [arg])
            use = Use(Locator((_css_or_xpath(value),), self.flavor), [call], whole.start, whole.end,
                      self.src.line_of(whole.start), literal_only=True, origins=[(0, 0)])
            use.pieces = pieces
            uses.append(use)
        return uses

    def _format_template(self, lit: Literal) -> Literal:
        """A Python selector constant with ``{field}`` holes that the spec ``.format()``s: a template
        of the test's values, like an f-string."""
        if (self.lang != "py" or lit.prefix or "{" not in lit.value
                or not re.search(r"\.\s*format\s*\(", self.src.text)):
            return lit
        fields = re.findall(r"(?<!\{)\{(?!\{)([^{}]*)\}(?!\})", lit.value)
        if fields and all(re.fullmatch(r"[A-Za-z_]\w*|\d+", f) for f in fields):
            return replace(lit, fmt=True)
        return lit

    # What the test does with it
    def _intent(self, use: Use) -> None:
        use.variable = _variable_before(self.src.text[max(0, use.start - 120) : use.start], self.lang)
        if use.action is None:
            use.action, use.typed, use.expects = self._done_with(use.start, use.end, use.variable)
        use.states, use.value = self._asserted(use.end, use.variable)
        if use.action is None:
            # const statusBadge = (page, plate) => row(page, plate).locator('.badge'): what the tests
            # do with what the helper returns, where they call it.
            helper = enclosing_helper(self.src, use.start)
            if helper is not None:
                for call in self.src.calls({helper.name}):
                    if helper.start <= call.start < use.end:
                        continue
                    start, end = call.start, call.end
                    # cy.get(sel('permit-type')).select(...): the helper's value is the argument
                    # of the call that does the action.
                    outer = re.match(r"\s*\)", self.src.text[end:])
                    if outer and re.search(r"\(\s*$", self.src.text[max(0, start - 200) : start]):
                        end += outer.end()
                        start = self.src.text.rfind("(", 0, start)
                    var = _variable_before(self.src.text[max(0, start - 120) : start], self.lang)
                    action, typed, expects = self._done_with(start, end, var)
                    if action is not None:
                        values = tuple(a.literal.value for a in call.args if a.literal is not None)
                        use.sites.append((values, action, typed, expects))
                # One thing done wherever it is called: that is what the test does with it. Calls
                # that differ are told apart by the values they pass, once the failure shows them.
                if len({site[1] for site in use.sites}) == 1:
                    _, use.action, use.typed, use.expects = use.sites[0]

    def _asserted(self, end: int, var: str | None) -> tuple[bool, str | None]:
        """What the spec asserts of the element anywhere, whatever else it does with it: whether it
        is enabled (then it is a control: a page object's bookButton that one test clicks and
        another expects disabled is not the header's "Book a visit" link), and the value a field
        holds (``to_have_value("78000")``)."""
        text = self.src.text
        spots = [end]
        if var:
            name = re.escape(var.split(".")[-1])
            spots += [end + m.end() for m in re.finditer(rf"(?<![\w$]){name}\b", text[end:])]
        states, value = False, None
        for pos in spots:
            # A page object's method or getter called to get it: expect(editor.publish(page)).
            after = text[pos : pos + 200]
            if pos != end:
                after = re.sub(r"^\s*\([\w$\s,.]*\)", "", after)
            after = re.sub(r"^\s*\)", "", after)
            after = re.sub(r"^\s*\)", "", after)  # expect(page.locator(NAME)).to_have_value(...)
            if re.match(r"\s*(?:\.\s*not)?\s*\.\s*(?:to_?[Bb]e_?(?:[Dd]isabled|[Ee]nabled)|"
                        r"is_?(?:[Ee]nabled|[Dd]isabled))\b", after):
                states = True
            if re.match(r"\s*\.\s*should\s*\(\s*['\"](?:not\.)?be\.(?:disabled|enabled)", after):
                states = True
            m = re.match(r"\s*\.\s*(?:toHaveValue|to_have_value)\s*", after) or re.match(
                r"\s*\.\s*should\s*\(\s*(['\"])have\.value\1\s*,", after)
            if m and value is None:
                rest = after[m.end() :]
                value = _string_arg(rest if rest.lstrip().startswith("(") else "(" + rest)
        return states, value

    def _done_with(self, start: int, end: int, var: str | None) -> tuple[str | None, str | None, str | None]:
        """What the code does with the locator written at ``start:end``: the action, what it types,
        and the text it expects to read."""
        text = self.src.text
        after = text[end : end + 200]
        if self.flavor == SELENIUM:
            # find_element(By.ID, "x").click(): the action follows the call the locator is inside.
            after = re.sub(r"^\s*\)", "", after)
        expects = None
        action, typed = _action_after(after)
        if action == "fill" and typed is None:
            typed = self._typed_through_parameter(end, after)
        # cy.get(...).should('have.text', '$86.40')
        m = re.match(r"\s*\.\s*should\s*\(\s*(['\"])have\.text\1\s*,", after)
        if m:
            expects = _string_arg("(" + after[m.end() :])
        if action is None:
            before = text[max(0, start - 80) : start]
            # expect(<locator>).toHaveValue(...) / Select(driver.find_element(...))
            if re.search(r"(?:expect|expect_)\s*\(\s*(?:await\s+)?[\w.]*$", before):
                close = _close_paren(text, end)
                if close is not None:
                    m = re.match(r"\s*\)\s*(\.\s*not)?\s*\.\s*(\w+)", text[close : close + 80])
                    if m:
                        action = _ASSERTIONS.get(m.group(2))
                        if m.group(2) in ("toHaveText", "to_have_text") and not m.group(1):
                            expects = _string_arg(text[close + m.end() : close + m.end() + 200])
            elif re.search(r"\bSelect\s*\(\s*(?:await\s+)?[\w.]*(?:\(\s*\*?)?$", before):
                action, typed = "select", _wrapped_select(after)
        if action is not None or not var:
            return action, typed, expects
        name = re.escape(var.split(".")[-1])
        fallback: tuple[str, str | None] | None = None
        for m in re.finditer(rf"(?<![\w$]){name}\b", text[end:]):
            pos = end + m.end()
            tail = text[pos : pos + 200]
            before = text[max(0, end + m.start() - 60) : end + m.start()]
            # A constant passed to the call that finds it, page.locator(GROSS_SALARY).fill(...) or
            # find_element(*EMAIL).send_keys(...): the action follows that call.
            inside = re.search(r"(?<![\w$])(?!expect\b|Select\b)[A-Za-z_$][\w$.]*\s*\(\s*\*?\s*"
                               r"(?:this\.|self\.|[A-Z]\w*\.)?$", before)
            closing = re.match(r"\s*\)", tail)
            if inside and closing:
                tail, pos = tail[closing.end() :], pos + closing.end()
                before = before[: inside.start()]
            action, typed = _action_after(tail)
            asserted = False
            if action is None:
                if re.search(r"expect\s*\(\s*(?:this\.|self\.)?$", before):
                    m2 = re.match(r"\s*\)\s*(\.\s*not)?\s*\.\s*(\w+)", text[pos : pos + 80])
                    action = _ASSERTIONS.get(m2.group(2)) if m2 else None
                    asserted = action is not None
                    if m2 and m2.group(2) in ("toHaveText", "to_have_text") and not m2.group(1):
                        expects = _string_arg(text[pos + m2.end() : pos + m2.end() + 200])
                elif re.search(r"Select\s*\(\s*(?:await\s+)?(?:this\.|self\.)?$", before):
                    # new Select(await driver.findElement(SIZE)) in JS, Select(driver.find_element(*SIZE))
                    action, typed = "select", _wrapped_select(tail)
            if action is None:
                # start = driver.find_element(*self.START_DATE), then start.send_keys(...)
                line_start = text.rfind("\n", 0, end + m.start()) + 1
                assigned = re.match(r"\s*(?:const\s+|let\s+|var\s+)?([A-Za-z_$][\w$]*)\s*=[^=]",
                                    text[line_start : end + m.start()])
                if assigned:
                    action, typed, pos = self._action_of_variable(assigned.group(1), pos)
            if action and asserted:
                # An assertion says less than a use: toHaveValue fits a field and a select alike,
                # and a later selectOption says which. Kept in case nothing later does more.
                fallback = fallback or (action, typed)
                continue
            if action:
                if action == "fill" and typed is None:
                    typed = self._typed_through_parameter(pos, text[pos : pos + 200])
                return action, typed, expects
        if fallback:
            return fallback[0], fallback[1], expects
        return None, None, expects

    def _action_of_variable(self, name: str, start: int) -> tuple[str | None, str | None, int]:
        """What the code from ``start`` on does with the variable ``name``, first thing it does."""
        text = self.src.text
        for m in re.finditer(rf"(?<![\w$.]){re.escape(name)}\b", text[start : start + 2000]):
            pos = start + m.end()
            action, typed = _action_after(text[pos : pos + 200])
            if action:
                return action, typed, pos
        return None, None, start

    def _typed_through_parameter(self, pos: int, tail: str) -> str | None:
        """What a page object's method types, seen where the tests call it: ``fill(str(amount))``
        inside ``def set_down_payment(self, amount)``, called ``set_down_payment(300000)``."""
        m = re.match(
            r"\s*\.\s*(?:fill|type|send_keys|sendKeys|press_sequentially|pressSequentially)\s*\(\s*"
            r"(?:str|String|Number)?\s*\(?\s*([A-Za-z_$][\w$]*)\s*\)?\s*[,)]",
            tail,
        )
        if not m:
            return None
        helper = helper_of(self.src, pos, m.group(1))
        if helper is None:
            return None
        for call in self.src.calls({helper.name}):
            if call.start == helper.start or helper.start <= call.start <= pos:
                continue
            arg = call.arg(helper.index)
            if arg is not None and arg.literal is not None:
                return arg.literal.value
            if arg is not None and re.fullmatch(r"-?\d+(?:\.\d+)?", arg.text.strip()):
                return arg.text.strip()
        return None


# Scanning a joined constant, from a position (never slicing the rest of the file).
_NAME = re.compile(r"[A-Za-z_]\w*")
_PLUS = re.compile(r"[ \t]*\+[ \t]*")
_QUOTE_NEXT = re.compile(r"\s*['\"]")
_CLOSE_NEXT = re.compile(r"\s*\)")


def _filled(lit: Literal) -> str:
    """The literal's value with its holes filled: `[data-cy=${name}]` is a selector once they are."""
    filled = lit.value
    for hole in reversed(holes(lit)):
        filled = filled[: hole.start()] + "x" + filled[hole.end() :]
    return filled


def _action_after(after: str) -> tuple[str | None, str | None]:
    """The action a chain ends in (``.fill('x')``), skipping modifiers like ``.first()``."""
    m = re.match(
        r"\s*(?:\.\s*(?:first|last)\s*(?:\(\s*\))?\s*|\.\s*(?:nth|eq)\s*\(\s*-?\d+\s*\)\s*)*"
        r"\.\s*(\w+)\s*(\()?\s*(?P<q>['\"`])?",
        after,
    )
    if not m:
        return None, None
    method = m.group(1)
    if method == "should" and m.group("q"):
        rest = after[m.end() : m.end() + 60]
        for pattern, action in _SHOULD:
            if pattern.search(rest.split(m.group("q"))[0]):
                return action, None
        return None, None
    action = _ACTIONS.get(method)
    if action is None or (method == "select" and m.group(2) is None):
        return None, None  # `.select` without a call is not Cypress's select()
    typed = None  # what it types, or for a select the option it picks
    if action in ("fill", "select") and m.group("q"):
        q = m.group("q")
        rest = after[m.end() :]
        end = rest.find(q)
        typed = rest[:end] if end >= 0 else None
    return action, typed


def _wrapped_select(after: str) -> str | None:
    """The option Selenium's ``Select(<element>).select_by_visible_text('Premium')`` picks, read past the
    wrapper's closing parenthesis (``after`` starts there): what tells one <select> from another."""
    action, typed = _action_after(re.sub(r"^\s*\)", "", after, count=1))
    return typed if action == "select" else None


def _string_arg(text: str) -> str | None:
    """The string literal that opens a call's arguments: ``('$86.40')`` → ``$86.40``."""
    m = re.match(r"""\s*\(\s*(?:(['"`])((?:\\.|(?!\1).)*)\1)\s*[,)]""", text)
    return m.group(2) if m and "${" not in m.group(2) else None


def _close_paren(text: str, pos: int) -> int | None:
    m = re.compile(r"\s*\)").match(text, pos)
    return m.start() if m else None


def _variable_before(before: str, lang: str) -> str | None:
    """The name a locator is assigned to or returned as: ``const email = ``, ``self.email = ``,
    ``def email(self): return ``, ``get email() { return ``."""
    lines = before.split("\n")
    before = lines[-1]  # the statement's own line: not a `-> None:` above it
    whole = re.match(r"^\s*(?:(?:const|let|var)\s+|(?:this|self)\.)?([A-Za-z_$][\w$]*)\s*=[^=]", before)
    if whole and "(" in before[whole.end():]:
        return whole.group(1)  # sort = WebDriverWait(driver, 5).until(EC.clickable((By.ID, ...)))
    if re.match(r"^\s*return\b", before) and len(lines) > 1:
        before = lines[-2] + " " + before  # def email(self):\n    return page.get_by_label(...)
    before = re.sub(r"(?:await|yield)\s*$", "", before.rstrip()).rstrip()
    m = re.search(r"(?:(?:const|let|var)\s+|(?:this|self)\.)?([A-Za-z_$][\w$]*)\s*[:=]\s*[\w$.]*\(?$", before)
    if m and not before.endswith(("==", "!=", "<=", ">=")):
        return m.group(1)
    m = re.search(r"(?:def\s+|get\s+)([A-Za-z_$][\w$]*)\s*\([^)]*\)[^:{]*[:{]\s*return\s+[\w$.]*$", before)
    if m:
        return m.group(1)
    # publish: (page) => page.getByTestId(...), in a page object of arrow functions
    m = re.search(r"(?:(?:const|let|var)\s+|(?:this|self)\.)?([A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s*)?"
                  r"(?:\([\w$\s,:]*\)|[A-Za-z_$][\w$]*)\s*=>\s*[\w$.]*$", before)
    return m.group(1) if m else None


def reader_for(text: str, flavor: str, lang: str) -> SpecReader:
    return SpecReader(text, flavor=flavor, lang=lang)


# Assertions about an element's state (its value, an attribute, checked, enabled, focus, classes), and
# assertions about whether it is there or what it shows. A locator by role name or label on a line
# that asserts only the first kind just finds the element: its name is not what the test checks.
_STATE = re.compile(
    r"\bto(?:Have(?:Value|Values|Attribute|Class|CSS|Id|JSProperty)|Be(?:Checked|Disabled|Enabled|Editable"
    r"|Focused|Empty|Required|Invalid|Valid))\b"
    r"|\bto_(?:have_(?:value|values|attribute|class|css|id|js_property)|be_(?:checked|disabled|enabled"
    r"|editable|focused|empty))\b"
    r"|['\"](?:not\.)?(?:have\.(?:attr|value|class|css|prop|id)|be\.(?:checked|disabled|enabled|focused"
    r"|selected|empty))['\"]"
    r"|\.(?:is_selected|is_enabled|get_attribute|get_dom_attribute|get_property|value_of_css_property"
    r"|isSelected|isEnabled|getAttribute|getCssValue)\s*\("
)
_SHOWN = re.compile(
    r"visible|hidden|text|contain|exist|length|count|displayed|inthedocument|attached|\bhave\.html", re.I
)


def _spans(text: str, lang: str, keep: Callable[[Locator], bool]) -> list[tuple[int, int]]:
    return [
        (use.start, use.end)
        for flavor in (PLAYWRIGHT, CYPRESS, SELENIUM)
        for use in SpecReader(text, flavor=flavor, lang=lang).uses()
        if keep(use.locator)
    ]


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out += [text[last:start], "<selector>"]
        last = end
    out.append(text[last:])
    return "".join(out)


def asserts_state_only(line: str, lang: str) -> bool:
    """Whether an assertion line checks only the state of the element it finds (``should('have.attr',
    'aria-invalid', 'true')``, ``to_have_value``), not that it is there or what it shows."""
    rest = _blank(line, _spans(line, lang, lambda _: True))
    return bool(_STATE.search(rest)) and not _SHOWN.search(rest)


_JS_TEST = re.compile(
    r"""^[ \t]*(?:it|test|specify|scenario)(?:\.\w+)?\s*\(\s*(['"`])((?:\\.|(?!\1).)*)\1""", re.M
)
_PY_TEST = re.compile(r"^[ \t]*(?:async\s+)?def\s+(test_\w+)\s*\(", re.M)


def test_span(text: str, lang: str, pos: int) -> tuple[int, int, str] | None:
    """(start, end, title) of the test around ``pos``: from its ``it('...')`` / ``test('...')`` /
    ``def test_...`` to the next test's; None outside every test (a helper, a hook, a constant)."""
    found = list((_PY_TEST if lang == "py" else _JS_TEST).finditer(text))
    before = [m for m in found if m.start() <= pos]
    if not before:
        return None
    start = before[-1]
    after = [m.start() for m in found if m.start() > pos]
    title = start.group(1) if lang == "py" else start.group(2)
    return start.start(), (after[0] if after else len(text)), title


def blank_locators(text: str, lang: str) -> str:
    """``text`` with every structural locator (CSS, XPath, test id, id, name; in any runner's API)
    replaced by ``<selector>``, and on lines that assert only an element's state, locators by role
    name or label too. Locators by shown text stay: on an assertion line their text is part of what
    the test expects."""
    spans = _spans(text, lang, structural)
    named = _spans(text, lang, lambda loc: by_name(loc) and not structural(loc))
    for start, end in named:
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        if asserts_state_only(text[line_start : line_end if line_end >= 0 else len(text)], lang):
            spans.append((start, end))
    return _blank(text, spans)
