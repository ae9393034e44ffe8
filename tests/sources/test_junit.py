"""The JUnit parser on files really written by mocha-junit-reporter, jest-junit, Playwright and
pytest (see fixtures/junit/README.md), and its errors on files that are not JUnit XML."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from healloop.errors import InvalidInput
from healloop.sources.junit import parse_junit, parse_junit_bytes

FIXTURES = Path(__file__).parent / "fixtures" / "junit"


def titles(name: str, **kw) -> list[tuple[str, str, str]]:
    return [(f.source, f.spec, f.test) for f in parse_junit(FIXTURES / name, **kw)]


def test_mocha_junit_reporter_as_cypress_users_configure_it() -> None:
    got = parse_junit(FIXTURES / "mocha-junit.xml", root_dir=Path("/tmp/jfx/mocha"))
    assert [(f.source, f.spec, f.test) for f in got] == [
        ("mocha", "test/checkout.spec.js", "checkout > fails with a thrown error"),
        ("mocha", "test/checkout.spec.js", 'checkout payment > shows the total "incl. tax"'),
    ]
    assert got[0].message == "TypeError: Cannot read properties of null (reading 'click')"
    assert "checkout.spec.js:7:49" in got[0].stack
    # The message keeps its line breaks (the XML attribute has them folded to spaces).
    assert got[1].message == "AssertionError [ERR_ASSERTION]: total is wrong\n\n'€10' !== '€12'"


def test_mocha_full_suite_titles_give_the_whole_title_path() -> None:
    assert titles("mocha-junit-fullsuite.xml")[1][2] == 'checkout > payment > shows the total "incl. tax"'


def test_jest_junit_with_and_without_the_file_attribute() -> None:
    assert titles("jest-junit.xml") == [
        ("jest", "src/cart.test.js", "cart > discounts applies 10% off"),
        ("jest", "src/cart.test.js", "top-level failure"),
    ]
    assert titles("jest-junit-default.xml")[0][1] == "cart"
    first = parse_junit(FIXTURES / "jest-junit.xml")[0]
    assert first.message.startswith("Error: expect(received).toBe(expected)")
    assert "Received: 90" in first.message and "at Object.toBe" in first.stack


def test_pytest_junitxml_gives_node_ids_and_setup_errors() -> None:
    got = parse_junit(FIXTURES / "pytest-junit.xml")
    assert [(f.spec, f.test) for f in got] == [
        ("tests/test_orders.py", "TestRefunds::test_refund_amount"),
        ("tests/test_orders.py", "test_with_broken_fixture"),
    ]
    assert got[0].message == "AssertionError: refund should include shipping\nassert 10 == 12"
    assert got[1].labels["junit_kind"] == "error"
    assert "database is not reachable" in got[1].message


def test_playwright_junit_with_its_attachments(tmp_path: Path) -> None:
    # The attachments are named relative to the XML file; lay them out as Playwright did.
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(FIXTURES / "playwright-junit.xml", out)
    shots = tmp_path / "test-results" / "login-login-shows-an-error-for-a-bad-password"
    shots.mkdir(parents=True)
    (shots / "test-failed-1.png").write_bytes(b"\x89PNG fake")
    (shots / "error-context.md").write_text("- button \"Sign in\"")
    [f] = parse_junit(out / "playwright-junit.xml")
    assert (f.source, f.spec, f.test) == ("playwright", "login.spec.js",
                                           "login > shows an error for a bad password")
    assert f.message.startswith("Error: expect(locator).toHaveText(expected) failed")
    assert "login.spec.js:9:51" in f.stack
    assert [(a.name, a.content_type) for a in f.artifacts] == [
        ("test-failed-1.png", "image/png"), ("error-context.md", "text/markdown")]


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "the file is empty"),
    (b"<testsuites><testcase name='x'>", "not well-formed XML at line 1"),
    (b"<html><body>502 Bad Gateway</body></html>", "the root element is <html>"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
     b"<testsuites><testsuite name='s'><testcase name='&lol2;'><failure/></testcase></testsuite>"
     b"</testsuites>", "refused: the XML declares a DTD or entities"),
])
def test_malformed_files_get_a_clear_error_naming_the_file(data: bytes, expected: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_junit_bytes(data, name="results.xml")
    assert info.value.message.startswith("results.xml: ")
    assert expected in info.value.message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"nope\.xml: cannot read the file"):
        parse_junit(tmp_path / "nope.xml")
