"""Horizontal bar charts as inline SVG, drawn on the server (no chart library, no script)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

ROW = 28
LABEL_W = 150
BAR_W = 320


def bars(title: str, values: Mapping[str, int | None]) -> str:
    """One bar per value, scaled to the largest; a value the engine did not answer shows as "n/a"."""
    top = max([v for v in values.values() if v] or [1])
    height = ROW * len(values) + 8
    rows = []
    for i, (label, value) in enumerate(values.items()):
        y = i * ROW + 4
        width = 0 if not value else max(2, round(BAR_W * value / top))
        shown = "n/a" if value is None else str(value)
        rows.append(
            f'<text x="0" y="{y + 18}" class="label">{escape(label)}</text>'
            f'<rect x="{LABEL_W}" y="{y + 4}" width="{width}" height="18" class="bar"/>'
            f'<text x="{LABEL_W + width + 6}" y="{y + 18}" class="value">{shown}</text>'
        )
    total_w = LABEL_W + BAR_W + 60
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {total_w} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" class="chart"><title>{escape(title)}</title>'
        + "".join(rows)
        + "</svg>"
    )


def columns(title: str, hours: list[str], values: list[int]) -> str:
    """One column an hour, oldest left; the hour of each column is its tooltip."""
    top, width, height = max([*values, 1]), 12, 60
    cols = []
    for i, (hour, value) in enumerate(zip(hours, values, strict=True)):
        h = 0 if not value else max(2, round(height * value / top))
        cols.append(
            f'<rect x="{i * (width + 2)}" y="{height - h}" width="{width}" height="{h}" class="bar">'
            f"<title>{escape(hour[11:16])} UTC: {value}</title></rect>"
        )
    total_w = len(values) * (width + 2)
    return (
        f'<svg role="img" aria-label="{escape(title)}: {sum(values)} in {len(values)} hours" '
        f'viewBox="0 0 {total_w} {height + 2}" width="100%" class="columns"><title>{escape(title)}</title>'
        + "".join(cols)
        + f'<line x1="0" y1="{height + 1}" x2="{total_w}" y2="{height + 1}" class="axis"/></svg>'
    )
