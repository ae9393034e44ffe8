"""The trends page (``/trends?since=&until=&node=``): the window picker, and the figures of
``GET /v1/stats`` for that window drawn by ``trends.render_trends``.

The window is read by ``queue/stats.parse_window``, the API's own, so the page and the API answer the
same query with the same numbers and refuse a bad one with the same sentence. The service computes
them, as for the API; nothing is fetched over HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from healloop.dashboard.testpage import test_url
from healloop.dashboard.trends import render_trends
from healloop.errors import HealloopError
from healloop.queue.stats import DEFAULT_SINCE, parse_window

if TYPE_CHECKING:
    from healloop.dashboard.access import Visit

# (since, text key) of the window picker's choices; any other `since` the API takes (2w, an RFC 3339
# time) is kept as a choice of its own when given in the address.
PRESETS = (("24h", "last_day"), ("7d", "last_week"), ("30d", "last_30d"), ("90d", "last_90d"))


async def trends_page(request: Request, v: Visit) -> Response:
    dash = request.app.state.dashboard
    q = request.query_params
    since = q.get("since", "").strip() or DEFAULT_SINCE
    until = q.get("until", "").strip()
    node = q.get("node", "").strip()
    error, body = None, None
    try:
        window = parse_window(since, until or None, node or None)
        # render_trends escapes every text it draws (charts.esc): test names, classes, errors.
        body = Markup(render_trends(await dash.service.stats(window), v.t, test_url))
    except HealloopError as exc:
        error = exc.message
    known = sorted(n.name for n in await dash.service.list_nodes())
    return dash.render(request, v, "trends.html", 400 if error else 200, presets=PRESETS, since=since,
                       until=until, node=node, custom=since not in dict(PRESETS), known_nodes=known,
                       error=error, body=body)
