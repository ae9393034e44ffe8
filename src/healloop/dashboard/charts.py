"""Charts and tables of the trends page as markup: small pure functions, no JavaScript, no CDN.

Every text that reaches the markup goes through ``esc``: class names, test names, commit subjects and
notification errors come from the queue, which took them from test runs and agents (untrusted). Each
chart is an inline SVG with ``role="img"``, a ``<title>`` and a ``<desc>`` that says what it shows in
words; every bar carries its own ``<title>`` (a tooltip, and what a screen reader says for it) and
its figure as ``data-value``, and the figures are also printed as text beside the bars. Colours are
presentation attributes, not ``style``, so a page whose CSP forbids inline styles still shows them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Colour-blind-safe (Okabe and Ito), then greys: more classes than colours reuse them in order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#999999", "#666666")
WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 24, 44


def esc(value: object) -> str:
    """Text for an element's content or a quoted attribute."""
    return html.escape(str(value), quote=True)


def seconds(value: float | None) -> str:
    """A duration as people read it: 0.42 s, 12.3 s, 4.5 min, 2.1 h; an em dash when there is none."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value`` (1 for an empty chart)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def colours(keys: Sequence[str]) -> dict[str, str]:
    return {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}


def _num(x: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _svg_open(chart_id: str, title: str, desc: str, height: int = HEIGHT) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{esc(chart_id)}" role="img" '
            f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
            f'aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d">'
            f'<title id="{esc(chart_id)}-t">{esc(title)}</title>'
            f'<desc id="{esc(chart_id)}-d">{esc(desc)}</desc>')


def _y_axis(top: float, unit: str, axis_label: str) -> str:
    """Gridlines at 0, half and the top, their values, and the axis's name."""
    plot_h = HEIGHT - TOP - BOTTOM
    out = ['<g class="axis y" font-size="11" fill="#444">']
    for frac in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - frac)
        value = top * frac
        text = f"{value:g}{unit}"
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y)}" y2="{_num(y)}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 4}" y="{_num(y + 4)}" text-anchor="end">{esc(text)}</text>')
    out.append(f'<text class="axis-label" x="12" y="{_num(TOP + plot_h / 2)}" text-anchor="middle" '
               f'transform="rotate(-90 12 {_num(TOP + plot_h / 2)})">{esc(axis_label)}</text></g>')
    return "".join(out)


def _text_width(text: str) -> float:
    """About how wide ``text`` is at font size 11: Chinese characters take about twice a Latin one."""
    return sum(11.0 if ord(ch) >= 0x2E80 else 6.5 for ch in text)


def _legend(items: Sequence[tuple[str, str, str]], y: float) -> str:
    """Swatches in rows under the chart: (key, colour, text)."""
    out = ['<g class="legend" font-size="11" fill="#222">']
    x, row = LEFT, 0
    for key, colour, text in items:
        width = 22 + _text_width(text)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = LEFT, row + 1
        yy = y + row * 16
        out.append(f'<g class="legend-item" data-key="{esc(key)}"><rect x="{_num(x)}" y="{_num(yy - 9)}" '
                   f'width="10" height="10" fill="{colour}"/><text x="{_num(x + 14)}" y="{_num(yy)}">'
                   f'{esc(text)}</text></g>')
        x += width
    out.append("</g>")
    return "".join(out)


def _legend_rows(texts: Sequence[str]) -> int:
    """The rows ``_legend`` takes for these texts (the same wrapping, without drawing)."""
    x, rows = LEFT, 1
    for text in texts:
        width = 22 + _text_width(text)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, rows = LEFT, rows + 1
        x += width
    return rows


@dataclass(frozen=True)
class Link:
    """A table cell that links somewhere on the dashboard (text and address both escaped)."""
    text: str
    href: str


def _cell(v: object) -> str:
    if v is None:
        return "—"
    if isinstance(v, Link):
        return f'<a href="{esc(v.href)}">{esc(v.text)}</a>'
    return esc(v)


@dataclass(frozen=True)
class DayBar:
    day: str                  # YYYY-MM-DD
    classes: dict[str, int]   # class -> failures that day


def stacked_days(chart_id: str, days: Sequence[DayBar], *, title: str, desc: str, axis_label: str,
                 class_names: dict[str, str], empty: str) -> str:
    """Failures per day, one stacked bar per day, one segment per class (in ``class_names``' order,
    which is also the legend's); each day's total printed above its bar."""
    order = list(class_names)
    fill = colours(order)
    total_max = max((sum(d.classes.values()) for d in days), default=0)
    top = nice_ceiling(total_max)
    legend_rows = _legend_rows([class_names[c] for c in order])
    height = HEIGHT + 16 * (legend_rows - 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    bar_w = max(1.0, slot * 0.8)
    # Every day's label when they fit, else every k-th day's: a year's window has 366 slots of 1.8 px.
    every = max(1, math.ceil(len(days) / 12))
    out = [_svg_open(chart_id, title, desc, height), _y_axis(top, "", axis_label)]
    out.append('<g class="bars">')
    for i, d in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = TOP + plot_h
        total = sum(d.classes.values())
        for cls in order:
            n = d.classes.get(cls, 0)
            if n <= 0:
                continue
            h = plot_h * n / top
            y -= h
            out.append(f'<rect class="bar" data-day="{esc(d.day)}" data-class="{esc(cls)}" data-value="{n}" '
                       f'x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" height="{_num(h)}" '
                       f'fill="{fill[cls]}"><title>{esc(d.day)} · {esc(class_names[cls])}: {n}</title>'
                       '</rect>')
        if total and slot >= 14:
            out.append(f'<text class="total" x="{_num(x + bar_w / 2)}" y="{_num(y - 3)}" font-size="10" '
                       f'text-anchor="middle">{total}</text>')
        if i % every == 0:
            out.append(f'<text class="day" x="{_num(x + bar_w / 2)}" y="{_num(TOP + plot_h + 14)}" '
                       f'font-size="10" text-anchor="middle">{esc(d.day[5:])}</text>')
    out.append("</g>")
    if total_max == 0:
        out.append(f'<text class="empty" x="{_num(LEFT + plot_w / 2)}" y="{_num(TOP + plot_h / 2)}" '
                   f'text-anchor="middle" fill="#666">{esc(empty)}</text>')
    out.append(_legend([(c, fill[c], class_names[c]) for c in order], HEIGHT - 12))
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Part:
    key: str
    label: str
    events: int
    share: float  # 0..1


def share_bar(chart_id: str, parts: Sequence[Part], *, title: str, desc: str, empty: str) -> str:
    """One horizontal bar split by share (e.g. outcomes); every part in the legend with its count and
    percentage, the ones with events also as segments."""
    fill = colours([p.key for p in parts])
    texts = [f"{p.label}: {p.events} ({percent(p.share)})" for p in parts]
    legend_rows = _legend_rows(texts)
    height = 80 + 16 * legend_rows
    total = sum(p.events for p in parts)
    plot_w = WIDTH - LEFT - RIGHT
    out = [_svg_open(chart_id, title, desc, height), '<g class="bars">']
    x = float(LEFT)
    for p in parts:
        if p.events <= 0 or total == 0:
            continue
        w = plot_w * p.events / total
        out.append(f'<rect class="bar" data-key="{esc(p.key)}" data-value="{p.events}" '
                   f'data-share="{p.share}" x="{_num(x)}" y="{TOP}" width="{_num(w)}" height="28" '
                   f'fill="{fill[p.key]}"><title>{esc(p.label)}: {p.events} ({percent(p.share)})</title>'
                   '</rect>')
        if w >= 40:
            out.append(f'<text x="{_num(x + w / 2)}" y="{TOP + 18}" font-size="11" text-anchor="middle" '
                       f'fill="#fff">{esc(percent(p.share))}</text>')
        x += w
    if total == 0:
        out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="28" fill="#eee"/>'
                   f'<text class="empty" x="{_num(LEFT + plot_w / 2)}" y="{TOP + 18}" text-anchor="middle" '
                   f'fill="#666">{esc(empty)}</text>')
    out.append("</g>")
    out.append(_legend([(p.key, fill[p.key], text) for p, text in zip(parts, texts, strict=True)], 80))
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Repair:
    key: str            # the class
    label: str
    events: int         # resolved events of the class
    mean_s: float | None
    p90_s: float | None


def repair_bars(chart_id: str, rows: Sequence[Repair], *, title: str, desc: str, axis_label: str,
                mean_label: str, p90_label: str, events_label: str, empty: str) -> str:
    """Mean and p90 time to repair per class: two bars side by side per class, each value printed."""
    longest = max((v for r in rows for v in (r.mean_s, r.p90_s) if v is not None), default=0.0)
    top = nice_ceiling(longest)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(rows))
    bar_w = min(60.0, slot * 0.38)
    fill = {"mean": PALETTE[0], "p90": PALETTE[1]}
    out = [_svg_open(chart_id, title, desc), _y_axis(top, " s", axis_label), '<g class="bars">']
    for i, r in enumerate(rows):
        centre = LEFT + i * slot + slot / 2
        pair = (("mean", r.mean_s, mean_label), ("p90", r.p90_s, p90_label))
        for j, (kind, value, name) in enumerate(pair):
            if value is None:
                continue
            h = plot_h * value / top
            x = centre - bar_w + j * bar_w
            y = TOP + plot_h - h
            out.append(f'<rect class="bar" data-class="{esc(r.key)}" data-kind="{kind}" data-value="{value}" '
                       f'x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" height="{_num(h)}" '
                       f'fill="{fill[kind]}"><title>{esc(r.label)} · {esc(name)}: {esc(seconds(value))}'
                       f'</title></rect>'
                       f'<text x="{_num(x + bar_w / 2)}" y="{_num(y - 3)}" font-size="10" '
                       'text-anchor="middle">'
                       f'{esc(seconds(value))}</text>')
        out.append(f'<text class="class" x="{_num(centre)}" y="{TOP + plot_h + 14}" font-size="10" '
                   f'text-anchor="middle">{esc(r.label)}</text>'
                   f'<text x="{_num(centre)}" y="{TOP + plot_h + 26}" font-size="10" text-anchor="middle" '
                   f'fill="#666">{esc(events_label)} {r.events}</text>')
    out.append("</g>")
    if not rows:
        out.append(f'<text class="empty" x="{_num(LEFT + plot_w / 2)}" y="{_num(TOP + plot_h / 2)}" '
                   f'text-anchor="middle" fill="#666">{esc(empty)}</text>')
    out.append(_legend([("mean", fill["mean"], mean_label), ("p90", fill["p90"], p90_label)], HEIGHT - 4))
    out.append("</svg>")
    return "".join(out)


def table(table_id: str, caption: str, headers: Sequence[str], rows: Sequence[Sequence[object]], *,
          numeric: Sequence[int] = (), empty: str = "") -> str:
    """A plain table with a caption and column headers; ``numeric`` columns aligned right. Cells are
    escaped; None shows as an em dash, a ``Link`` as a link."""
    num = ' class="num"'
    head = "".join(f'<th scope="col"{num if i in numeric else ""}>{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f'<td{num if i in numeric else ""}>{_cell(v)}</td>'
                        for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not rows:
        body.append(f'<tr class="empty"><td colspan="{len(headers)}">{esc(empty)}</td></tr>')
    return (f'<table class="trend-table" id="{esc(table_id)}"><caption>{esc(caption)}</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
