"""JUnit XML from mocha-junit-reporter (Cypress), Playwright, pytest ``--junitxml`` and jest-junit.

The four tools agree on ``<testcase>`` with ``<failure>``/``<error>`` children and disagree on where
the spec file and the title path are; ``_dialect`` picks the rule for each. Parsing goes through
defusedxml: a DTD or entity declaration is refused, since report files can come from anywhere.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from healloop.errors import InvalidInput
from healloop.sources.failure import Artifact, Failure

DIALECTS = ("mocha", "playwright", "pytest", "jest", "generic")
_ATTACHMENT = re.compile(r"\[\[ATTACHMENT\|(.+?)\]\]")
_STACK_START = re.compile(r"^\s+at |^\S+\.py:\d+: ", re.M)
MAX_FILE = 200 * 1024 * 1024


@dataclass
class _Case:
    suite: ET.Element
    case: ET.Element
    problem: ET.Element
    file_hint: str | None


def _dialect(root: ET.Element) -> str:
    name = root.get("name", "")
    first_suite = root if root.tag == "testsuite" else root.find("testsuite")
    suite_name = first_suite.get("name", "") if first_suite is not None else ""
    if name == "jest tests":
        return "jest"
    if suite_name == "pytest" or name == "pytest tests":
        return "pytest"
    has_file = root.find(".//testsuite[@file]") is not None
    if name == "Mocha Tests" or (suite_name in ("Root Suite", "") and has_file):
        return "mocha"
    if root.get("id") == "" and root.find(".//testcase") is not None and all(
            " › " in (c.get("name") or "") or c.get("classname") == s.get("name")
            for s in root.iter("testsuite") for c in s.findall("testcase")):
        return "playwright"
    return "generic"


def _cases(root: ET.Element, passed: bool = False) -> Iterable[_Case]:
    """The failed test cases, or (``passed``) those that passed: no failure, error or skip in them (their
    ``problem`` is an empty <passed/>, so that one naming of spec and test serves both)."""
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    file_hint = None
    for suite in suites:
        # mocha-junit-reporter under Cypress puts the spec only on the root suite of each file.
        file_hint = suite.get("file") or file_hint
        for case in suite.findall("testcase"):
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is not None and not passed:
                yield _Case(suite, case, problem, file_hint)
            elif problem is None and passed and case.find("skipped") is None:
                yield _Case(suite, case, ET.Element("passed"), file_hint)


def _relative(path: str, root: Path | None) -> str:
    if root is not None and Path(path).is_absolute():
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return path


def _split(text: str) -> tuple[str, str]:
    """First lines up to the stack as the message; the whole text as the stack."""
    m = _STACK_START.search(text)
    head = text[: m.start()] if m else text
    return head.strip(), text.strip()


def _title_mocha(suite: ET.Element, case: ET.Element) -> str:
    name, leaf = case.get("name", ""), case.get("classname", "")
    suite_name = suite.get("name", "")
    for sep in (" > ", " / "):
        parts = [p for p in suite_name.split(sep) if p and p != "Root Suite"]
        if len(parts) > 1 and " ".join([*parts, leaf]) == name:
            return " > ".join([*parts, leaf])
    if leaf and name.endswith(leaf):
        prefix = name[: -len(leaf)].strip()
        return f"{prefix} > {leaf}" if prefix else leaf
    return name


def _failure(c: _Case, dialect: str, source: str, root_dir: Path | None, xml_dir: Path) -> Failure:
    case, suite, problem = c.case, c.suite, c.problem
    text = problem.text or ""
    attr_message = problem.get("message") or ""
    head, stack = _split(text)
    # XML folds newlines in attributes to spaces, so the text's first lines read better when present.
    message = head or attr_message or problem.get("type") or "failed"
    name = case.get("name") or "(unnamed test)"
    classname = case.get("classname") or ""
    spec = case.get("file") or suite.get("file") or c.file_hint
    artifacts: list[Artifact] = []
    if dialect == "mocha":
        test = _title_mocha(suite, case)
    elif dialect == "playwright":
        spec = spec or classname or suite.get("name")
        test = name.replace(" › ", " > ")
        # The CDATA starts with a header line repeating the title; the error follows.
        body = re.sub(r"^\s*\S.*?[─]+\s*\n", "", text, count=1).strip()
        head, _ = _split(body)
        message = head or message
        stack = body
        for m in _ATTACHMENT.finditer((case.findtext("system-out") or "") + text):
            p = (xml_dir / m.group(1)).resolve()
            if p.is_file() and all(a.path != p for a in artifacts):
                artifacts.append(Artifact(p))
    elif dialect == "pytest":
        parts = classname.split(".")
        module = [p for p in parts if not p[:1].isupper()]
        classes = parts[len(module):]
        spec = spec or ("/".join(module) + ".py" if module else suite.get("name", "pytest"))
        test = "::".join([*classes, name])
        # pytest writes the exception line into the attribute with real newlines (&#10;).
        message = attr_message or head
    elif dialect == "jest":
        spec = spec or suite.get("name")
        test = name.strip()
        if classname.strip() and suite.get("name") and test.startswith(suite.get("name", "") + " "):
            test = suite.get("name", "") + " > " + test[len(suite.get("name", "")) + 1:]
    else:
        spec = spec or classname or suite.get("name")
        test = name
    duration = case.get("time")
    try:
        duration_ms = round(float(duration) * 1000) if duration else None
    except ValueError:
        duration_ms = None
    return Failure(source=source, spec=_relative(spec or "(unknown spec)", root_dir), test=test,
                   message=message, stack=stack or None, duration_ms=duration_ms,
                   labels={"junit_dialect": dialect, "junit_kind": problem.tag},
                   artifacts=artifacts)


def parse_junit(path: Path, *, source: str | None = None, root_dir: Path | None = None,
                passed: list[tuple[str, str]] | None = None) -> list[Failure]:
    """The failures in one JUnit XML file; ``InvalidInput`` naming the file when it is not one. The
    (spec, test) of each test that passed is added to ``passed`` when given (POST /v1/runs)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise InvalidInput(f"{path}: {size} bytes is over the {MAX_FILE} byte limit for a report file")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    return parse_junit_bytes(data, name=str(path), source=source, root_dir=root_dir,
                             xml_dir=path.resolve().parent, passed=passed)


def parse_junit_bytes(data: bytes, *, name: str = "<input>", source: str | None = None,
                      root_dir: Path | None = None, xml_dir: Path | None = None,
                      passed: list[tuple[str, str]] | None = None) -> list[Failure]:
    if not data.strip():
        raise InvalidInput(f"{name}: the file is empty, not JUnit XML")
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InvalidInput(f"{name}: refused: the XML declares a DTD or entities ({exc})") from exc
    except ET.ParseError as exc:
        line, col = exc.position
        raise InvalidInput(f"{name}: not well-formed XML at line {line}, column {col + 1}: "
                           f"{str(exc).split(':')[0]}") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise InvalidInput(f"{name}: the root element is <{root.tag}>, not <testsuites> or <testsuite>; "
                           "is this a JUnit XML report?")
    dialect = _dialect(root)
    src = source or {"mocha": "mocha", "playwright": "playwright", "pytest": "pytest",
                     "jest": "jest"}.get(dialect, "junit")
    if passed is not None:
        passed.extend((f.spec, f.test) for f in (_failure(c, dialect, src, root_dir, xml_dir or Path.cwd())
                                                  for c in _cases(root, passed=True)))
    return [_failure(c, dialect, src, root_dir, xml_dir or Path.cwd()) for c in _cases(root)]
