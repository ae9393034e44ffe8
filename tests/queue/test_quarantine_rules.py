"""Unit tests of the quarantine rules (queue/quarantine.py) and the states they add: pure, no store."""

from __future__ import annotations

import pytest

from healloop.errors import ConfigError, Conflict
from healloop.queue import quarantine, rules
from healloop.queue.quarantine import Quarantine, auto_quarantine, flake_rate, release_note
from healloop.queue.rules import QueuePolicy, decide_report
from healloop.timeutil import US

P = QueuePolicy()
DAY = 86400 * US
NOW = 100 * DAY


def test_quarantined_after_n_flaky_calls_only_when_the_test_passed_within_the_window() -> None:
    args = {"spec": "a.py", "test": "t", "now": NOW, "policy": P}
    assert auto_quarantine(flaky_calls=2, last_pass_at=NOW, **args) is None
    q = auto_quarantine(flaky_calls=3, last_pass_at=NOW - DAY, **args)
    assert q is not None and (q.owner, q.auto, q.until) == ("healloop", True, NOW + 14 * DAY)
    assert q.reason == "called flaky 3 times in 7 d (healloop serve --quarantine-after 3)"
    # Always failing: no pass at all, or none within the window.
    assert auto_quarantine(flaky_calls=9, last_pass_at=None, **args) is None
    assert auto_quarantine(flaky_calls=9, last_pass_at=NOW - 8 * DAY, **args) is None
    off = {**args, "policy": QueuePolicy(quarantine_after=0)}
    assert auto_quarantine(flaky_calls=99, last_pass_at=NOW, **off) is None


def test_release_needs_enough_clean_runs_on_two_nodes_and_a_failure_starts_over() -> None:
    q = Quarantine("a.py", "t", "ana", 0, NOW)
    for _ in range(12):
        quarantine.count_clean(q, "ci-1")
    assert release_note(q, P) is None  # one machine where the race never shows frees nothing
    quarantine.count_failure(q)
    assert (q.clean, q.clean_nodes) == (0, [])
    for node in ["ci-1"] * 9 + ["ci-2"]:
        quarantine.count_clean(q, node)
    assert release_note(q, P) == ("released: 10 clean runs on 2 nodes (ci-1, ci-2) since the quarantine "
                                  "began or the test last failed")
    assert release_note(q, QueuePolicy(release_after=0)) is None


def test_flake_rate_is_flaky_calls_over_runs() -> None:
    assert flake_rate(0, 0) is None
    assert flake_rate(3, 6) == 0.5
    assert flake_rate(5, 3) == 1.0  # calls of pruned-away runs never make it over 1


def test_a_quarantined_test_creates_quarantined_events_but_merging_comes_first() -> None:
    d = decide_report(open_event_id=None, latest_resolved=None, occurred_at=1, resolved_recently=0, policy=P,
                      quarantined="a.py > t is quarantined by ana until …")
    assert d.initial_status == rules.QUARANTINED and "kept, not handed to an agent" in (d.note or "")
    d = decide_report(open_event_id="evt_1", latest_resolved=None, occurred_at=1, resolved_recently=0,
                      policy=P, quarantined="…")
    assert (d.action, d.target) == ("merge", "evt_1")


@pytest.mark.parametrize("src", rules.STATES)
def test_person_moves_are_the_table(src: str) -> None:
    for dst in rules.STATES:
        if dst in rules.PERSON_MOVES.get(src, frozenset()):
            rules.check_person_move(src, dst, "evt_1", "moved")
        else:
            with pytest.raises(Conflict, match="only an escalated event can be moved"):
                rules.check_person_move(src, dst, "evt_1", "moved")
    assert rules.QUARANTINED in rules.OPEN and rules.QUARANTINED not in rules.HELD | rules.FINAL
    assert rules.QUARANTINED not in rules.TRANSITIONS  # no agent ever holds one


def test_settings_take_flags_over_the_file_and_name_bad_values() -> None:
    got = quarantine.settings({"quarantine_after": 5, "quarantine_window": "2w", "release_after": 4},
                              {"release_after": 7, "quarantine_for": "36h"})
    assert got == {"quarantine_after": 5, "quarantine_window_s": 14 * 86400, "quarantine_for_s": 36 * 3600,
                   "release_after": 7}
    with pytest.raises(ConfigError, match=r"`queue\.quarantine_after` must be a whole number"):
        quarantine.settings({"quarantine_after": "3"}, {})
    with pytest.raises(ConfigError, match="`--quarantine-for` must be a duration"):
        quarantine.settings({}, {"quarantine_for": "0d"})
