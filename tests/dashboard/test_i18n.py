"""Every text key a template asks for is in both languages; nothing the page says is left untranslated."""

from __future__ import annotations

import re
from pathlib import Path

from healloop.dashboard import i18n
from healloop.queue.rules import STATES

TEMPLATES = Path(i18n.__file__).parent / "templates"
_KEY = re.compile(r"""\bt\(\s*'([a-z_]*[a-z])'\s*[,)]""")


def test_every_key_the_templates_use_has_english_and_chinese() -> None:
    used = {key for path in TEMPLATES.glob("*.html") for key in _KEY.findall(path.read_text())}
    assert used, "the pattern found no keys: has the templates' form changed?"
    used |= {f"st_{s}" for s in STATES} | {"done_" + v for v in ("requeue", "close", "approve", "reject",
                                                                    "revert")}
    # Keys the test page builds from a value: the quarantine buttons, how a heal ended, how a
    # quarantine ended (testbook._view, Quarantine.ended).
    used |= {f"{k}_{v}" for k in ("done", "verb") for v in ("quarantined", "lifted")}
    used |= {f"how_{v}" for v in ("healed", "approved", "closed")}
    used |= {f"ended_{v}" for v in ("active", "lifted", "released", "expired")}
    used |= {"set_quarantine", "replace_quarantine"}
    missing = sorted(used - set(i18n.STRINGS))
    assert missing == []
    for key, (en, zh) in i18n.STRINGS.items():
        assert en.strip() and zh.strip(), key
        # The same blanks to fill, in whatever order each language puts them.
        assert sorted(re.findall(r"{\w+}", en)) == sorted(re.findall(r"{\w+}", zh)), key


def test_the_language_is_english_unless_chinese_was_chosen() -> None:
    assert i18n.chosen(None) == "en" and i18n.chosen("fr") == "en" and i18n.chosen("zh") == "zh"
    assert i18n.text("zh")("events") == "事件" and i18n.text("en")("events") == "Events"
    assert i18n.text("en")("forbidden", role="reader", need="operator or admin").startswith("Your token")
