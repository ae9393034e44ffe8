"""The dashboard's page text in English and Chinese. A page asks ``text(lang)`` for its translator; the
language is the ``healloop_lang`` cookie set by the switch (``/lang/{code}``), else English.

Every string a template shows is here under one key, so ``tests/dashboard/test_i18n.py`` can check
that both languages have every key. Event data (test names, messages, notes) is shown as reported."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("en", "zh")
COOKIE = "healloop_lang"

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("healloop dashboard", "healloop 控制台"),
    "events": ("Events", "事件"),
    "trends": ("Trends", "趋势"),
    "api_docs": ("API", "API 文档"),
    "signed_in_as": ("Signed in as", "已登录："),
    "open_queue": ("Open queue: no tokens, anyone who can connect may act",
                   "开放队列：未设置令牌，能连上的人都可以操作"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "token": ("Token", "令牌"),
    "signin_help": ("Paste a reader, operator or admin token (`healloop token create --role reader`). "
                    "The page keeps a signed session cookie, not the token.",
                    "粘贴 reader、operator 或 admin 令牌（`healloop token create --role reader`）。"
                    "页面只保存签名的会话 Cookie，不保存令牌本身。"),
    "bad_token": ("That token is not one this queue knows.", "此队列不认识这个令牌。"),
    "revoked_token": ("That token was revoked.", "这个令牌已被吊销。"),
    "wrong_role": ("A token of role {role} cannot open the dashboard; it needs reader, operator or admin.",
                   "{role} 角色的令牌不能打开控制台，需要 reader、operator 或 admin。"),
    "session_ended": ("Your session ended (expired, signed out or the token was revoked); sign in again.",
                      "会话已结束（过期、已退出或令牌被吊销），请重新登录。"),
    "csrf_failed": ("This form is stale or came from elsewhere (CSRF check failed); reload the page "
                    "and try again.", "表单已过期或来自其他页面（CSRF 校验失败），请刷新页面后重试。"),
    "forbidden": ("Your token's role ({role}) may not do this; it needs {need}.",
                  "你的令牌角色（{role}）不能执行此操作，需要 {need}。"),
    "not_found": ("No such event.", "没有这个事件。"),
    "waiting": ("Waiting for a person", "等待人工处理"),
    "waiting_none": ("Nothing is waiting for a person.", "没有等待人工处理的事件。"),
    "latest": ("Latest events", "最新事件"),
    "no_events": ("No events match.", "没有匹配的事件。"),
    "all_states": ("all states", "全部状态"),
    "filter": ("Filter", "筛选"),
    "clear": ("Clear", "清除"),
    "search": ("Search test names and messages", "搜索测试名和错误信息"),
    "state": ("State", "状态"),
    "node": ("Node", "节点"),
    "nodes": ("Nodes", "节点"),
    "spec": ("Spec", "用例文件"),
    "class": ("Class", "类别"),
    "label": ("Label (key=value)", "标签（键=值）"),
    "window": ("Since", "时间范围"),
    "any_time": ("any time", "不限"),
    "search_window_help": ("A search, spec or label looks back 30 days unless another time is chosen; "
                           "choose any time for the whole history (slower).",
                           "搜索、用例文件或标签筛选默认只查最近 30 天；选择“不限”可查全部历史（较慢）。"),
    "last_hour": ("last hour", "最近 1 小时"),
    "last_day": ("last 24 hours", "最近 24 小时"),
    "last_week": ("last 7 days", "最近 7 天"),
    "count": ("Count", "次数"),
    "test_or_message": ("Test / message", "测试 / 信息"),
    "updated": ("Updated", "更新时间"),
    "live": ("live", "实时"),
    "offline": ("reconnecting…", "重新连接中…"),
    "changed": ("This event changed; the page shows its latest state.", "此事件已更新，页面显示最新状态。"),
    "timeline": ("Timeline", "时间线"),
    "at": ("When", "时间"),
    "move": ("Move", "状态变化"),
    "who": ("Who", "执行者"),
    "note": ("Note", "备注"),
    "data": ("Data", "数据"),
    "occurrences": ("Occurrences", "出现情况"),
    "reported_by": ("reported by", "报告节点"),
    "times": ("times", "次"),
    "first_seen": ("First seen", "首次出现"),
    "message": ("Message", "错误信息"),
    "stack": ("Stack", "调用栈"),
    "artifacts": ("Screenshots and snapshots", "截图与快照"),
    "no_artifacts": ("No artifacts were uploaded for this event.", "此事件没有上传附件。"),
    "heal": ("Healed element", "修复的元素"),
    "old_locator": ("Old locator", "原定位器"),
    "new_locator": ("New locator", "新定位器"),
    "confidence": ("Confidence", "置信度"),
    "actions": ("Actions", "操作"),
    "result": ("Result", "结果"),
    "refused": ("refused", "被拒绝"),
    "verification": ("Verification runs", "验证运行"),
    "report": ("Root-cause report", "根因报告"),
    "likely_cause": ("Likely cause", "可能原因"),
    "why_failed": ("Why the repair failed", "修复失败原因"),
    "suspect_commit": ("Suspect commit", "可疑提交"),
    "proposal": ("Proposed change", "待批准的修改"),
    "decide": ("Decide", "处理"),
    "reason": ("Reason", "原因"),
    "reason_required": ("a reason is required", "必须填写原因"),
    "approve": ("Approve", "批准"),
    "reject": ("Reject", "拒绝"),
    "revert": ("Revert", "撤销修复"),
    "requeue": ("Requeue", "重新排队"),
    "close": ("Close", "关闭"),
    "no_buttons": ("Nothing to decide in this state.", "此状态下无需处理。"),
    "reader_only": ("You may look; deciding needs an operator token.",
                    "你可以查看；处理需要 operator 令牌。"),
    "done_requeue": ("Requeued.", "已重新排队。"),
    "done_close": ("Closed.", "已关闭。"),
    "done_approve": ("Approved.", "已批准。"),
    "done_reject": ("Rejected.", "已拒绝。"),
    "done_revert": ("Reverted.", "已撤销。"),
    "failed": ("Not done", "未完成"),
    "back": ("All events", "全部事件"),
    "language": ("中文", "English"),
    "st_queued": ("queued", "排队中"),
    "st_processing": ("processing", "处理中"),
    "st_analyzing": ("analyzing", "分析中"),
    "st_fixing": ("fixing", "修复中"),
    "st_verifying": ("verifying", "验证中"),
    "st_proposed": ("proposed", "待批准"),
    "st_resolved": ("resolved", "已解决"),
    "st_escalated": ("escalated", "已升级"),
    "st_quarantined": ("quarantined", "已隔离"),
    "st_total": ("total", "合计"),
    # the trends page (its charts' own text is trends.TEXT, merged below)
    "last_30d": ("last 30 days", "最近 30 天"),
    "last_90d": ("last 90 days", "最近 90 天"),
    "now": ("now", "现在"),
    "any_node": ("any node", "全部节点"),
    "trends_help": ("The numbers of GET /v1/stats and `healloop stats` for this window; until: an RFC "
                    "3339 time or 7d, 24h back from now.",
                    "与 GET /v1/stats 和 `healloop stats` 同一时间段的数字；"
                    "截止：RFC 3339 时间，或 7d、24h 表示从现在往前。"),
    # the test page and the quarantined tests
    "test_page": ("Test", "测试"),
    "test_history": ("history", "历史"),
    "test_history_title": ("This test on every machine: runs, flake rate, heals, quarantine",
                           "此测试在所有机器上的运行、不稳定率、修复与隔离"),
    "quarantined_tests": ("Quarantined", "已隔离测试"),
    "test_lookup_help": ("Name a test by its spec and test name, as its reports name them; or open one "
                         "from an event.", "按报告中的用例文件和测试名指定一个测试，或从事件页打开。"),
    "test_name": ("Test", "测试名"),
    "show": ("Show", "显示"),
    "not_quarantined": ("not quarantined", "未隔离"),
    "test_summary": ("On every machine", "所有机器汇总"),
    "runs_recorded": ("Runs recorded", "记录的运行"),
    "passed_n": ("{n} passed", "{n} 次通过"),
    "failed_n": ("{n} failed", "{n} 次失败"),
    "flake_rate": ("Flake rate", "不稳定率"),
    "called_flaky": ("called flaky {n} times", "被判定为不稳定 {n} 次"),
    "failure_rate": ("Failure rate", "失败率"),
    "last_good_run": ("Last good run", "最近一次通过"),
    "on_node": ("on", "节点"),
    "none_yet": ("none recorded", "没有记录"),
    "quarantine": ("Quarantine", "隔离"),
    "owner": ("Owner", "负责人"),
    "automatic": ("set by healloop", "由 healloop 自动设置"),
    "since": ("Since", "开始"),
    "until": ("Until", "截止"),
    "clean_runs": ("Clean runs", "干净运行"),
    "clean_runs_on": ("{n} on {nodes} node(s)", "{nodes} 个节点共 {n} 次"),
    "not_quarantined_help": ("Not quarantined: its failures go to the agents.",
                             "未隔离：它的失败会交给 agent 修复。"),
    "reader_only_quarantine": ("You may look; quarantining needs an operator token.",
                               "你可以查看；隔离需要 operator 令牌。"),
    "lift": ("Lift the quarantine", "解除隔离"),
    "set_quarantine": ("Quarantine", "隔离"),
    "replace_quarantine": ("Replace the quarantine", "替换隔离"),
    "for": ("For", "时长"),
    "quarantine_help": ("A quarantined test's failures are still reported and counted, never healed; "
                        "lifting it sends them back to the queue. For: 12h, 7d, 2w, at most 90d (as "
                        "`healloop quarantine add --for`).",
                        "被隔离测试的失败仍会上报和计数，但不会被修复；解除隔离后它们回到队列。"
                        "时长：12h、7d、2w，最长 90d（同 `healloop quarantine add --for`）。"),
    "runs_per_node": ("Passes and failures per node", "各节点的通过与失败"),
    "no_runs": ("No run of this test was recorded.", "没有此测试的运行记录。"),
    "pass_fail": ("Passed / failed", "通过 / 失败"),
    "passed": ("Passed", "通过"),
    "failed_runs": ("Failed", "失败"),
    "last_pass": ("Last pass", "最近通过"),
    "last_failure": ("Last failure", "最近失败"),
    "last_run": ("Last run", "最近运行"),
    "runs_help": ("Counted since the first report: passes from each run's reporter, failures from "
                  "the failure reports.", "自首次上报起累计：通过来自每次运行的报告器，失败来自失败报告。"),
    "heals_commits": ("Heals and their commits", "修复及其提交"),
    "no_heals": ("Nothing was resolved for this test yet.", "此测试还没有被解决的事件。"),
    "how": ("How", "方式"),
    "commit": ("Commit", "提交"),
    "event": ("Event", "事件"),
    "how_healed": ("healed", "自动修复"),
    "how_approved": ("approved", "批准"),
    "how_closed": ("closed", "关闭"),
    "reverted": ("reverted", "已撤销"),
    "events_of_test": ("Its events", "相关事件"),
    "quarantine_history": ("Quarantines", "隔离记录"),
    "ended_active": ("in force", "生效中"),
    "ended_lifted": ("lifted", "已解除"),
    "ended_released": ("released after clean runs", "干净运行后自动解除"),
    "ended_expired": ("expired", "已过期"),
    "done_quarantined": ("Quarantined.", "已隔离。"),
    "done_lifted": ("Quarantine lifted.", "已解除隔离。"),
    "verb_quarantined": ("Quarantine", "隔离"),
    "verb_lifted": ("Lift", "解除隔离"),
    "quarantines_help": ("Tests in quarantine now, as `healloop quarantine list` shows them.",
                         "当前被隔离的测试，与 `healloop quarantine list` 相同。"),
    "no_quarantines": ("No test is quarantined.", "没有被隔离的测试。"),
}


def text(lang: str) -> Callable[..., str]:
    """The translator of ``lang``: ``t("key", name=value)``; a state name through ``t.state``."""
    i = LANGS.index(lang) if lang in LANGS else 0

    def t(key: str, **values: object) -> str:
        pair = STRINGS.get(key)
        if pair is None:
            return key  # a state or word this table lacks is shown as it is
        return pair[i].format(**values) if values else pair[i]

    return t


def chosen(cookie: str | None) -> str:
    return cookie if cookie in LANGS else "en"


def _merge_trends() -> None:
    """The trends page's chart text (``trends.TEXT``, kept beside the charts) joins this table, so the
    page's one translator and the language switch cover it."""
    from healloop.dashboard.trends import TEXT

    for key, en in TEXT["en"].items():
        STRINGS.setdefault(key, (en, TEXT["zh"][key]))


_merge_trends()
