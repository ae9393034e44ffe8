"""Failure classification: message, stack and DOM snapshot in; one class and the evidence for it out.

Pure and ordered: the first rule whose pattern matches wins, so a Cypress "Timed out retrying ...
Expected to find element" is a missing selector, not a timeout, and "connection refused" inside an
AssertionError is an unreachable service, not an assertion mismatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SELECTOR_NOT_FOUND = "selector_not_found"
ASSERTION_TIMEOUT = "assertion_timeout"
ELEMENT_DETACHED = "element_detached"
SERVICE_UNREACHABLE = "service_unreachable"
TIMEOUT = "timeout"
ASSERTION_MISMATCH = "assertion_mismatch"
SCRIPT_ERROR = "script_error"
UNKNOWN = "unknown"
CLASSES = (
    SELECTOR_NOT_FOUND,
    ELEMENT_DETACHED,
    SERVICE_UNREACHABLE,
    TIMEOUT,
    ASSERTION_TIMEOUT,
    ASSERTION_MISMATCH,
    SCRIPT_ERROR,
    UNKNOWN,
)

_RULES: list[tuple[str, str, re.Pattern[str]]] = [
    (
        SERVICE_UNREACHABLE,
        "connection refused or reset",
        re.compile(
            r"ECONNREFUSED|ECONNRESET|connection refused|Connection reset|ERR_CONNECTION_REFUSED"
            r"|Failed to establish a new connection|Max retries exceeded|net::ERR_CONNECTION",
            re.I,
        ),
    ),
    (
        SERVICE_UNREACHABLE,
        "HTTP 5xx from a service",
        re.compile(
            r"\b(?:HTTP(?:/\d(?:\.\d)?)?\s*|status(?: code)?:?\s*|Error:?\s*)(50[0-4])\b"
            r"|\b50[234] (?:Bad Gateway|Service Unavailable|Gateway Timeout)",
            re.I,
        ),
    ),
    (
        SELECTOR_NOT_FOUND,
        "element never found",
        re.compile(
            r"Expected to find element|never found it"
            r"|waiting for (?:locator|selector|getBy\w+\(|get_by_\w+\()"
            r"|NoSuchElement|Unable to locate element|no such element|locator resolved to 0 elements"
            r"|element\(s\) not found|Expected to find content|Unable to find an? (?:accessible )?element"
            r"|Unable to find a label"
            # Selenium waits for an element that never came: WebDriverWait(...).until(EC.presence_of_...)
            r"|TimeoutException[\s\S]*?EC\.(?:presence|visibility|element_to_be_clickable|element_located)"
            r"|until\.elementLocated|Waiting for element to be located",
            re.I,
        ),
    ),
    (
        ELEMENT_DETACHED,
        "element detached or covered",
        re.compile(
            r"detached from the DOM|not attached to the (?:page|DOM)|StaleElementReference"
            r"|is being covered by another element|click intercepted|intercepts pointer events",
            re.I,
        ),
    ),
    (
        # A web-first assertion the runner retried until its timeout: the element was there, its text
        # or state was not (yet) what the test expects. Slow or wrong: only a rerun tells.
        ASSERTION_TIMEOUT,
        "an assertion retried until it timed out",
        re.compile(
            r"Timed out \d+ ?ms waiting for expect\("
            r"|expect\(locator\)\.\w+\([^)]*\) failed[\s\S]*?Timeout:\s*\d+"
            r"|Expect \"\w+\"[^\n]*with timeout \d+ ?ms|Timed out retrying after \d+ ?ms: expected",
            re.I,
        ),
    ),
    (
        ASSERTION_MISMATCH,
        "assertion mismatch",
        re.compile(
            r"AssertionError|assert .+==|expected .+ to (?:equal|be|have|contain|include)"
            r"|Expected: .+|Received: .+|toHaveText|toEqual|toBe\(",
            re.I,
        ),
    ),
    (
        TIMEOUT,
        "timed out",
        re.compile(
            r"Timed? ?out|TimeoutError|timeout of \d+ ?ms exceeded|exceeded timeout|deadline exceeded", re.I
        ),
    ),
    (
        SCRIPT_ERROR,
        "script error",
        re.compile(
            r"\b(?:TypeError|ReferenceError|SyntaxError|NameError|AttributeError|ImportError"
            r"|ModuleNotFoundError|KeyError|IndexError)\b|is not a function|is not defined|Uncaught",
            re.I,
        ),
    ),
]

_FOUND = re.compile(r"locator resolved to <")
_URL = re.compile(r"https?://[\w.\-\[\]:]+(?::\d+)?[^\s'\"<>)]*")
_PORT = re.compile(r"(?:port[ =:]+|:)(\d{2,5})\b", re.I)


@dataclass(frozen=True)
class Classification:
    kind: str
    evidence: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"class": self.kind, "evidence": self.evidence, "urls": self.urls, "ports": self.ports}


def _line_with(text: str, match: re.Match[str]) -> str:
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return text[start : end if end >= 0 else len(text)].strip()[:300]


def classify(message: str, stack: str | None = None, dom: str | None = None) -> Classification:
    """Class of a failure with the lines that show it. ``dom`` only adds evidence, never decides."""
    text = f"{message or ''}\n{stack or ''}"
    urls = sorted(set(_URL.findall(text)))
    ports = sorted({int(p) for p in _PORT.findall(text) if 0 < int(p) < 65536})
    for kind, why, pattern in _RULES:
        m = pattern.search(text)
        if m and kind == SELECTOR_NOT_FOUND and _FOUND.search(text):
            continue  # Playwright's call log says the locator did resolve to an element
        if m:
            evidence = [f"{why}: {_line_with(text, m)!r}"]
            if kind == SELECTOR_NOT_FOUND and dom:
                evidence.append(f"a DOM snapshot of {len(dom)} characters was reported")
            return Classification(kind, evidence, urls, ports)
    return Classification(UNKNOWN, ["no known failure pattern in the message or stack"], urls, ports)
