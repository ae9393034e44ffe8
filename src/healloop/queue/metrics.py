"""The queue's counters and histogram for ``GET /metrics``, in the Prometheus text format.

Kept in memory by the one server process; event counts by status are read from the store when
scraped, so they survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healloop.prometheus import Histogram


@dataclass
class Metrics:
    reports: int = 0
    merges: int = 0
    claims: int = 0
    lapses: int = 0
    budget_refusals: int = 0
    claim_wait: Histogram = field(default_factory=Histogram)

    def render(self, by_status: dict[str, int], states: tuple[str, ...], waiters: int) -> str:
        out = [
            "# HELP healloop_claim_waiters Claim requests parked waiting for an event (idle agents).",
            "# TYPE healloop_claim_waiters gauge",
            f"healloop_claim_waiters {waiters}",
            "# HELP healloop_events Events in the store by status.",
            "# TYPE healloop_events gauge",
        ]
        out += [f'healloop_events{{status="{s}"}} {by_status.get(s, 0)}' for s in states]
        for name, value, text in (
            ("reports", self.reports, "Failure reports accepted (new, merged or repeated)."),
            ("merges", self.merges, "Reports merged into an existing event."),
            ("claims", self.claims, "Events handed to a worker."),
            ("lease_lapses", self.lapses, "Leases that expired without a heartbeat."),
            ("budget_refusals", self.budget_refusals,
             "Moves to fixing refused because a budget of automatic fixes was spent."),
        ):
            out += [
                f"# HELP healloop_{name}_total {text}",
                f"# TYPE healloop_{name}_total counter",
                f"healloop_{name}_total {value}",
            ]
        out += [
            "# HELP healloop_claim_wait_seconds How long a successful claim request waited.",
            "# TYPE healloop_claim_wait_seconds histogram",
            *self.claim_wait.render("healloop_claim_wait_seconds"),
        ]
        return "\n".join(out) + "\n"


def notify_metrics(counts: dict[tuple[str, str], int], dispatcher: Any) -> str:
    """Notification channels: deliveries by state (a channel that is down piles up pending and
    failed ones) and, since start, messages sent, failed attempts and digests."""
    out = [
        "# HELP healloop_notifications Deliveries in the outbox by channel and state.",
        "# TYPE healloop_notifications gauge",
    ]
    out += [f'healloop_notifications{{channel="{c}",status="{st}"}} {n}'
            for (c, st), n in sorted(counts.items())]
    stats = getattr(dispatcher, "stats", None)
    for name, attr, text in (
        ("notify_sent", "sent", "Deliveries a channel accepted."),
        ("notify_failed_attempts", "failed_attempts", "Delivery attempts a channel refused or missed."),
        ("notify_digests", "digests", "Digest messages sent for storms."),
    ):
        out += [f"# HELP healloop_{name}_total {text}", f"# TYPE healloop_{name}_total counter"]
        for channel, value in sorted((getattr(stats, attr, None) or {}).items()):
            out.append(f'healloop_{name}_total{{channel="{channel}"}} {value}')
    return "\n".join(out) + "\n"
