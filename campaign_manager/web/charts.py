"""Bar charts as server-side SVG: no JavaScript, readable by screen readers.

Each chart carries a <title> and <desc> named by aria-labelledby/aria-describedby, and
every bar a <title> with its value; pages show a data table beside each chart with the
same numbers, which is what assistive technology users read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

from markupsafe import Markup

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
WIDTH = 720
HEIGHT = 300
MARGIN_LEFT = 48
MARGIN_RIGHT = 12
MARGIN_TOP = 36
MARGIN_BOTTOM = 56
# At most this many category labels under the axis; the others are left out.
MAX_LABELS = 12


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return factor * power
    return 10 * power


def _attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def bar_chart(
    *, chart_id: str, title: str, description: str, categories: list[str], series: list[Series]
) -> Markup:
    """Grouped bars: one group per category, one bar per series, with a legend."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = nice_ceiling(max((v for s in series for v in s.values), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_attr(chart_id)}" class="chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id}" aria-describedby="{desc_id}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
    ]
    # Legend along the top.
    x = MARGIN_LEFT
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="18" class="chart-legend">{escape(item.name)}</text>'
        )
        x += 24 + 8 * len(item.name)
    # Axis and grid lines at 0, ½ and the top.
    for fraction in (0, 0.5, 1):
        y = MARGIN_TOP + plot_height * (1 - fraction)
        value = top * fraction
        label = f"{value:g}"
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" '
            'class="chart-grid" stroke="#d0d7de"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="chart-axis">{label}</text>'
        )
    if not categories:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{MARGIN_TOP + plot_height / 2}" text-anchor="middle" '
            'class="chart-empty">No events yet</text>'
        )
    else:
        group_width = plot_width / len(categories)
        bar_width = max(group_width * 0.8 / max(len(series), 1), 1)
        label_every = math.ceil(len(categories) / MAX_LABELS)
        for c_index, category in enumerate(categories):
            group_x = MARGIN_LEFT + c_index * group_width + group_width * 0.1
            for s_index, item in enumerate(series):
                value = item.values[c_index] if c_index < len(item.values) else 0
                height = plot_height * value / top
                bar_x = group_x + s_index * bar_width
                parts.append(
                    f'<rect x="{bar_x:.1f}" y="{MARGIN_TOP + plot_height - height:.1f}" '
                    f'width="{bar_width:.1f}" height="{height:.1f}" '
                    f'fill="{PALETTE[s_index % len(PALETTE)]}">'
                    f"<title>{escape(category)}: {escape(item.name)} {value}</title></rect>"
                )
            if c_index % label_every == 0:
                label_x = MARGIN_LEFT + (c_index + 0.5) * group_width
                parts.append(
                    f'<text x="{label_x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
                    f'text-anchor="middle" class="chart-axis">{escape(category)}</text>'
                )
    parts.append("</svg>")
    # Safe: every text and attribute value above went through escape().
    return Markup("".join(parts))  # noqa: S704
