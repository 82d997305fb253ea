"""Spend charts as inline SVG, rendered on the server: no JavaScript, no CDN, readable by screen readers."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from markupsafe import Markup, escape

from portal.apikeys.money import format_usd
from portal.apikeys.spend import DayPoint

_ids = itertools.count(1)


def _nice_ceiling(value: int) -> int:
    """A round axis maximum (1, 2, 2.5, 5 x 10^n micro-USD) at or above value."""
    if value <= 0:
        return 1_000_000
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return 10 * magnitude


def daily_spend_chart(
    points: Sequence[DayPoint], *, title: str, width: int = 720, height: int = 220
) -> Markup:
    """Bars of spend per UTC day; each bar names its day, amount and requests on hover."""
    chart_id = f"chart-{next(_ids)}"
    left, right, top, bottom = 64, 12, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((p.cost_micros for p in points), default=0)
    axis_max = _nice_ceiling(peak)
    total = sum(p.cost_micros for p in points)
    requests = sum(p.requests for p in points)
    slot = plot_w / max(len(points), 1)
    bar_w = max(1.0, slot * 0.72)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{len(points)} days from {points[0].day if points else ""} to '
        f"{points[-1].day if points else ''}: {escape(format_usd(total))} in {requests} reported requests; "
        f"highest day {escape(format_usd(peak))}.</desc>",
    ]
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = format_usd(int(axis_max * fraction))
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>'
        )
    for index, point in enumerate(points):
        x = left + index * slot + (slot - bar_w) / 2
        bar_h = plot_h * point.cost_micros / axis_max if axis_max else 0
        if point.cost_micros and bar_h < 1:
            bar_h = 1
        y = top + plot_h - bar_h
        noun = "request" if point.requests == 1 else "requests"
        tip = f"{point.day:%a %Y-%m-%d}: {format_usd(point.cost_micros)}, {point.requests} {noun}"
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        last = len(points) - 1
        if index == last or (index % 7 == 0 and last - index >= 3):
            parts.append(
                f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{point.day:%m-%d}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every value interpolated above is escaped or numeric)
