"""The trends page's body, from the reply of ``GET /v1/stats`` (``queue/stats.py`` says what each
figure means): failures per day by class, the share of each outcome, time to repair by class, and
tables of flaky tests, suspect commits, node health and notification failures.

``render_trends(stats, t)`` takes the reply as parsed JSON and ``t(key)``, the page's translation of a
text key; ``TEXT`` holds this page's keys in English and Chinese, for the page's own table. Classes
the agent knows (``agent/classify.py``) are translated; any other class is shown as the queue holds it,
escaped like every other text that came from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healloop.dashboard.charts import (
    DayBar,
    Link,
    Part,
    Repair,
    esc,
    percent,
    repair_bars,
    share_bar,
    stacked_days,
    table,
)

# The outcomes in the order the share bar shows them: what healloop did alone first, what waits for a
# person next, what went wrong last (the same keys as the reply's `outcomes`).
OUTCOME_ORDER = ("healed", "approved", "closed", "proposed", "escalated", "reverted", "open")
KNOWN_CLASSES = ("selector_not_found", "assertion_timeout", "element_detached", "service_unreachable",
                 "timeout", "assertion_mismatch", "script_error", "unknown", "unclassified")
_FIELDS = ("window", "events", "failures_per_day", "outcomes", "time_to_repair", "flaky_tests",
           "suspect_commits", "nodes", "notifications")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "trends.title": "Trends",
        "trends.window": "Events created from {since} to {until}",
        "trends.window_node": "Events created from {since} to {until} that {node} took part in",
        "trends.events": "events",
        "trends.empty": "No failures in this window",
        "trends.per_day.title": "Failures per day by class",
        "trends.per_day.desc": "{events} failures over {days} days; the busiest day had {peak}.",
        "trends.per_day.axis": "failures",
        "trends.outcomes.title": "What happened to them",
        "trends.outcomes.desc": "Of {events} events: {parts}.",
        "trends.repair.title": "Time to repair by class",
        "trends.repair.desc": "From report to resolution, mean and 90th percentile, per class of the "
                              "resolved events.",
        "trends.repair.axis": "seconds",
        "trends.repair.mean": "mean",
        "trends.repair.p90": "p90",
        "trends.repair.events": "resolved:",
        "trends.repair.empty": "Nothing was resolved in this window",
        "trends.flaky.title": "Top flaky tests",
        "trends.flaky.spec": "Spec",
        "trends.flaky.test": "Test",
        "trends.flaky.times": "Times flaky",
        "trends.flaky.last": "Last",
        "trends.flaky.empty": "No test was found flaky",
        "trends.suspects.title": "Top suspect commits",
        "trends.suspects.sha": "Commit",
        "trends.suspects.subject": "Subject",
        "trends.suspects.events": "Escalations",
        "trends.suspects.last": "Last",
        "trends.suspects.empty": "No escalation named a suspect commit",
        "trends.nodes.title": "Node health",
        "trends.nodes.node": "Node",
        "trends.nodes.events": "Events",
        "trends.nodes.resolved": "Resolved",
        "trends.nodes.share": "Share resolved",
        "trends.nodes.last_report": "Last report",
        "trends.nodes.last_seen": "Tool node last seen",
        "trends.nodes.empty": "No node took part",
        "trends.notify.title": "Notification failures",
        "trends.notify.channel": "Channel",
        "trends.notify.failed": "Failed",
        "trends.notify.pending": "Pending",
        "trends.notify.delivered": "Delivered",
        "trends.notify.muted": "Muted",
        "trends.notify.digested": "Digested",
        "trends.notify.last_error": "Newest error",
        "trends.notify.empty": "No notification was sent",
        "outcome.healed": "healed automatically",
        "outcome.approved": "approved by a person",
        "outcome.closed": "closed by an operator",
        "outcome.proposed": "proposed, waiting",
        "outcome.escalated": "escalated",
        "outcome.reverted": "reverted",
        "outcome.open": "open",
        "class.selector_not_found": "selector not found",
        "class.assertion_timeout": "assertion timeout",
        "class.element_detached": "element detached",
        "class.service_unreachable": "service unreachable",
        "class.timeout": "timeout",
        "class.assertion_mismatch": "assertion mismatch",
        "class.script_error": "script error",
        "class.unknown": "unknown",
        "class.unclassified": "not classified yet",
    },
    "zh": {
        "trends.title": "趋势",
        "trends.window": "{since} 至 {until} 之间创建的事件",
        "trends.window_node": "{since} 至 {until} 之间创建、{node} 参与的事件",
        "trends.events": "个事件",
        "trends.empty": "此时间段内没有失败",
        "trends.per_day.title": "按类别的每日失败数",
        "trends.per_day.desc": "{days} 天内共 {events} 次失败；最多的一天 {peak} 次。",
        "trends.per_day.axis": "失败数",
        "trends.outcomes.title": "处理结果",
        "trends.outcomes.desc": "{events} 个事件中：{parts}。",
        "trends.repair.title": "按类别的修复耗时",
        "trends.repair.desc": "已解决事件从上报到解决的平均耗时与第 90 百分位，按类别。",
        "trends.repair.axis": "秒",
        "trends.repair.mean": "平均",
        "trends.repair.p90": "p90",
        "trends.repair.events": "已解决：",
        "trends.repair.empty": "此时间段内没有已解决的事件",
        "trends.flaky.title": "最不稳定的测试",
        "trends.flaky.spec": "测试文件",
        "trends.flaky.test": "测试",
        "trends.flaky.times": "不稳定次数",
        "trends.flaky.last": "最近一次",
        "trends.flaky.empty": "没有发现不稳定的测试",
        "trends.suspects.title": "最常被怀疑的提交",
        "trends.suspects.sha": "提交",
        "trends.suspects.subject": "标题",
        "trends.suspects.events": "上报次数",
        "trends.suspects.last": "最近一次",
        "trends.suspects.empty": "没有上报指出可疑提交",
        "trends.nodes.title": "节点健康",
        "trends.nodes.node": "节点",
        "trends.nodes.events": "事件",
        "trends.nodes.resolved": "已解决",
        "trends.nodes.share": "解决比例",
        "trends.nodes.last_report": "最近上报",
        "trends.nodes.last_seen": "工具节点最近在线",
        "trends.nodes.empty": "没有节点参与",
        "trends.notify.title": "通知失败",
        "trends.notify.channel": "渠道",
        "trends.notify.failed": "失败",
        "trends.notify.pending": "待发送",
        "trends.notify.delivered": "已送达",
        "trends.notify.muted": "已静音",
        "trends.notify.digested": "已汇总",
        "trends.notify.last_error": "最近的错误",
        "trends.notify.empty": "没有发送通知",
        "outcome.healed": "自动修复",
        "outcome.approved": "审批后修复",
        "outcome.closed": "人工关闭",
        "outcome.proposed": "待审批",
        "outcome.escalated": "已上报",
        "outcome.reverted": "已撤销",
        "outcome.open": "处理中",
        "class.selector_not_found": "找不到选择器",
        "class.assertion_timeout": "断言超时",
        "class.element_detached": "元素已脱离",
        "class.service_unreachable": "服务不可达",
        "class.timeout": "超时",
        "class.assertion_mismatch": "断言不符",
        "class.script_error": "脚本错误",
        "class.unknown": "未知",
        "class.unclassified": "尚未分类",
    },
}


def render_trends(stats: dict[str, Any], t: Callable[[str], str],
                  test_href: Callable[[str, str], str] | None = None) -> str:
    """The trends page's body HTML from a ``GET /v1/stats`` reply. A reply that lacks a figure raises
    ValueError naming it (a queue older than the page, or not a stats reply at all). With ``test_href``
    (spec, test -> address), each flaky test links to its test page."""
    missing = [name for name in _FIELDS if name not in stats]
    if missing:
        raise ValueError(f"the stats reply has no {', '.join(missing)}: render_trends takes the JSON of "
                         "GET /v1/stats from a queue of this healloop version")

    def cls(name: str) -> str:
        return t(f"class.{name}") if name in KNOWN_CLASSES else name

    w = stats["window"]
    since, until = w["since"][:16].replace("T", " "), w["until"][:16].replace("T", " ")
    head = esc(t("trends.window_node") if w.get("node") else t("trends.window")).format(
        since=esc(since), until=esc(until), node=esc(w.get("node") or ""))
    out = [f'<section class="trends"><h2>{esc(t("trends.title"))}</h2>',
           f'<p class="window">{head} · <strong class="events">{int(stats["events"])}</strong> '
           f'{esc(t("trends.events"))}</p>']

    days = [DayBar(str(d["day"]), {str(k): int(v) for k, v in d["classes"].items()})
            for d in stats["failures_per_day"]]
    seen = {c for d in days for c in d.classes}
    # Known classes in their fixed order (so a class keeps its colour from one window to the next),
    # then any other class by name.
    order = [c for c in KNOWN_CLASSES if c in seen] + sorted(seen - set(KNOWN_CLASSES))
    peak = max((sum(d.classes.values()) for d in days), default=0)
    out.append(_figure(stacked_days(
        "trend-per-day", days, title=t("trends.per_day.title"),
        desc=t("trends.per_day.desc").format(events=sum(sum(d.classes.values()) for d in days),
                                             days=len(days), peak=peak),
        axis_label=t("trends.per_day.axis"), class_names={c: cls(c) for c in order},
        empty=t("trends.empty")), t("trends.per_day.title")))

    outcomes = stats["outcomes"]
    parts = [Part(o, t(f"outcome.{o}"), int(outcomes[o]["events"]), float(outcomes[o]["share"]))
             for o in OUTCOME_ORDER if o in outcomes]
    words = ", ".join(f"{p.label} {p.events} ({percent(p.share)})" for p in parts)
    out.append(_figure(share_bar(
        "trend-outcomes", parts, title=t("trends.outcomes.title"),
        desc=t("trends.outcomes.desc").format(events=int(stats["events"]), parts=words),
        empty=t("trends.empty")), t("trends.outcomes.title")))

    repairs = [Repair(str(r["class"]), cls(str(r["class"])), int(r["events"]), r["mean_s"], r["p90_s"])
               for r in stats["time_to_repair"]]
    out.append(_figure(repair_bars(
        "trend-repair", repairs, title=t("trends.repair.title"), desc=t("trends.repair.desc"),
        axis_label=t("trends.repair.axis"), mean_label=t("trends.repair.mean"),
        p90_label=t("trends.repair.p90"),
        events_label=t("trends.repair.events"), empty=t("trends.repair.empty")), t("trends.repair.title")))

    out.append(table("trend-flaky", t("trends.flaky.title"),
                     [t("trends.flaky.spec"), t("trends.flaky.test"), t("trends.flaky.times"),
                      t("trends.flaky.last")],
                     [(f["spec"], _test_cell(f, test_href), f["times"], _when(f["last_at"]))
                      for f in stats["flaky_tests"]],
                     numeric=(2,), empty=t("trends.flaky.empty")))
    out.append(table("trend-suspects", t("trends.suspects.title"),
                     [t("trends.suspects.sha"), t("trends.suspects.subject"), t("trends.suspects.events"),
                      t("trends.suspects.last")],
                     [(str(s["sha"])[:12], s["subject"], s["events"], _when(s["last_at"]))
                      for s in stats["suspect_commits"]],
                     numeric=(2,), empty=t("trends.suspects.empty")))
    out.append(table("trend-nodes", t("trends.nodes.title"),
                     [t("trends.nodes.node"), t("trends.nodes.events"), t("trends.nodes.resolved"),
                      t("trends.nodes.share"), t("trends.nodes.last_report"), t("trends.nodes.last_seen")],
                     [(n["node"], n["events"], n["resolved"], percent(float(n["share_resolved"])),
                       _when(n["last_report"]), _when(n["last_seen"])) for n in stats["nodes"]],
                     numeric=(1, 2, 3), empty=t("trends.nodes.empty")))
    # Channels that failed or still wait first: they are what this table is for.
    channels = sorted(stats["notifications"], key=lambda c: (-(c["failed"] + c["pending"]), c["channel"]))
    out.append(table("trend-notify", t("trends.notify.title"),
                     [t("trends.notify.channel"), t("trends.notify.failed"), t("trends.notify.pending"),
                      t("trends.notify.delivered"), t("trends.notify.muted"), t("trends.notify.digested"),
                      t("trends.notify.last_error")],
                     [(c["channel"], c["failed"], c["pending"], c["delivered"], c["muted"], c["digested"],
                       c["last_error"]) for c in channels],
                     numeric=(1, 2, 3, 4, 5), empty=t("trends.notify.empty")))
    out.append("</section>")
    return "".join(out)


def _test_cell(f: dict[str, Any], test_href: Callable[[str, str], str] | None) -> object:
    return Link(f["test"], test_href(f["spec"], f["test"])) if test_href else f["test"]


def _figure(svg: str, caption: str) -> str:
    """The chart with its title shown as a caption too (the SVG's <title> is its accessible name)."""
    return f'<figure class="trend"><figcaption>{esc(caption)}</figcaption>{svg}</figure>'


def _when(rfc3339: str | None) -> str | None:
    """A time from the reply as a person reads it, to the minute (UTC, as the reply gives it)."""
    return None if rfc3339 is None else str(rfc3339)[:16].replace("T", " ") + " UTC"


def translator(lang: str) -> Callable[[str], str]:
    """``t`` for ``TEXT[lang]`` alone (the preview script and tests; the page merges TEXT into its own)."""
    if lang not in TEXT:
        raise ValueError(f"no trends text in {lang!r}: choose one of {', '.join(sorted(TEXT))}")
    table_ = TEXT[lang]
    return lambda key: table_.get(key, key)


STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 1.5rem; color: #222;
       max-width: 60rem; }
figure.trend { margin: 1rem 0 2rem; }
figure.trend figcaption { font-weight: 600; }
table.trend-table { border-collapse: collapse; margin: 1rem 0 2rem; min-width: 30rem; }
table.trend-table caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
table.trend-table th, table.trend-table td { border-bottom: 1px solid #ddd; padding: .25rem .6rem;
                                             text-align: left; }
table.trend-table .num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def standalone_page(body: str, *, lang: str, title: str) -> str:
    """A whole HTML document around ``render_trends``' body, for ``scripts/trends-preview`` and the
    browser test (the dashboard's own pages wrap it in their layout instead)."""
    return (f'<!doctype html><html lang="{esc("zh-CN" if lang == "zh" else lang)}">'
            '<head><meta charset="utf-8">'
            f'<title>{esc(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>')
