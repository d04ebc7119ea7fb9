"""Small SVG charts written by hand: bars, stacked bars, lines. No script, no external file.

Each chart is an ``<svg role="img">`` labelled by its ``<title>`` and ``<desc>`` (WAI-ARIA
graphics: https://www.w3.org/TR/graphics-aria-1.0/), every bar and point carries a
``<title>`` with its exact value, and the report shows the same numbers in a table. Colours
come from Paul Tol's colour-blind-safe "muted" scheme (https://personal.sron.nl/~pault/) and
stay distinct in greyscale print; text is dark on white. The ``<svg>`` has no ``xmlns``: inside
HTML the parser puts it in the SVG namespace, and the report holds no URL at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

#: Colour-blind-safe series colours (Paul Tol "muted", then extra distinct tones).
PALETTE = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
           "#882255", "#AA4499", "#6699CC", "#004488", "#BBBBBB")
#: Severity colours, as in the alert mails (dark enough for white text and for print).
SEVERITY_COLOURS = {"critical": "#B71C1C", "high": "#E65100", "medium": "#F9A825", "low": "#1565C0",
                    "informational": "#757575"}
FONT = "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" fill=\"#222\""
_LABEL_CHARS = 44
_CHAR_WIDTH = 6.6

ValueText = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of values, drawn in one colour."""

    name: str
    values: tuple[float, ...]
    colour: str


def colour(index: int) -> str:
    """The palette colour for the ``index``-th series."""
    return PALETTE[index % len(PALETTE)]


def nice_max(value: float, ticks: int = 4, *, whole: bool = True) -> tuple[float, float]:
    """An axis maximum at or above ``value`` and its tick step (1, 2, 2.5 or 5 times 10^n);
    ``whole``: counts, so no step below 1."""
    if value <= 0:
        return (1.0, 1.0) if whole else (1.0, 1.0 / ticks)
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole and step < 1:
        step = 1.0
    if whole and step == 2.5:  # 2.5, 5, 7.5: not whole
        step = 2.0 if 2.0 * ticks >= value else 5.0
    return step * math.ceil(value / step - 1e-9), step


def bar_chart(ident: str, title: str, desc: str, labels: Sequence[str], values: Sequence[float], *,
              colour_of: str = PALETTE[0], value_text: ValueText = str, width: int = 900,
              whole: bool = True) -> str:
    """Horizontal bars, one per label, with the value written after each bar."""
    series = [Series("", tuple(values), colour_of)]
    return stacked_bars(ident, title, desc, labels, series, value_text=value_text, width=width, legend=False,
                        whole=whole)


def stacked_bars(ident: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series], *,
                 value_text: ValueText = str, width: int = 900, legend: bool = True, whole: bool = True) -> str:
    """Horizontal bars per category, each split into the series (stacked left to right)."""
    row, gap = 22, 8
    left = min(max((len(_short(label)) for label in categories), default=4) * _CHAR_WIDTH + 12, 300)
    right = 70
    top = 8
    legend_rows = _legend_rows(series, width) if legend else []
    height = top + len(categories) * (row + gap) + 24 + len(legend_rows) * 20 + 8
    totals = [sum(item.values[index] for item in series) for index in range(len(categories))]
    axis_max, step = nice_max(max(totals, default=0), whole=whole)
    plot = width - left - right
    parts = _open(ident, title, desc, width, height)
    base_y = top + len(categories) * (row + gap)
    parts.extend(_vertical_grid(left, plot, top, base_y, axis_max, step, value_text))
    for index, label in enumerate(categories):
        y = top + index * (row + gap)
        parts.append(f'<text x="{left - 6}" y="{y + row / 2 + 4}" text-anchor="end">{escape(_short(label))}'
                     f"<title>{escape(label)}</title></text>")
        x = float(left)
        for item in series:
            value = item.values[index]
            if value <= 0:
                continue
            size = plot * value / axis_max
            name = f"{item.name}: " if item.name else ""
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(size, 1):.1f}" height="{row}" '
                         f'fill="{item.colour}" stroke="#fff" stroke-width="0.5">'
                         f"<title>{escape(f'{label} — {name}{value_text(value)}')}</title></rect>")
            x += size
        parts.append(f'<text x="{x + 5:.1f}" y="{y + row / 2 + 4}">{escape(value_text(totals[index]))}</text>')
    parts.extend(_legend(legend_rows, base_y + 28))
    parts.append("</svg>")
    return "".join(parts)


def stacked_columns(ident: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series], *,
                    value_text: ValueText = str, width: int = 960, height: int = 280) -> str:
    """Vertical columns per category (e.g. days), each split into the series (stacked upwards)."""
    left, right, top = 56, 12, 10
    legend_rows = _legend_rows(series, width)
    label_every = max(1, math.ceil(len(categories) / 12))
    plot_height = height - top - 40
    total_height = height + len(legend_rows) * 20 + 6
    totals = [sum(item.values[index] for item in series) for index in range(len(categories))]
    axis_max, step = nice_max(max(totals, default=0))
    plot = width - left - right
    slot = plot / max(len(categories), 1)
    bar = slot * 0.7
    base_y = top + plot_height
    parts = _open(ident, title, desc, width, total_height)
    parts.extend(_horizontal_grid(left, plot, top, base_y, axis_max, step, value_text))
    for index, label in enumerate(categories):
        x = left + index * slot + (slot - bar) / 2
        y = float(base_y)
        for item in series:
            value = item.values[index]
            if value <= 0:
                continue
            size = plot_height * value / axis_max
            y -= size
            name = f"{item.name}: " if item.name else ""
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(size, 0.5):.1f}" '
                         f'fill="{item.colour}" stroke="#fff" stroke-width="0.5">'
                         f"<title>{escape(f'{label} — {name}{value_text(value)}')}</title></rect>")
        if index % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base_y + 16}" text-anchor="middle">'
                         f"{escape(label)}</text>")
    parts.extend(_legend(legend_rows, height + 2))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(ident: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series], *,
               value_text: ValueText = str, axis_max: float | None = None, width: int = 960,
               height: int = 240) -> str:
    """Lines over categories (e.g. scans in time); a value of NaN leaves a gap."""
    left, right, top = 56, 44, 10
    legend_rows = _legend_rows(series, width)
    plot_height = height - top - 40
    present = [value for item in series for value in item.values if not math.isnan(value)]
    if axis_max is None:
        axis_max, step = nice_max(max(present, default=0), whole=False)
    else:
        step = axis_max / 4
    plot = width - left - right
    slot = plot / max(len(categories) - 1, 1)
    base_y = top + plot_height
    label_every = max(1, math.ceil(len(categories) / 10))
    parts = _open(ident, title, desc, width, height + len(legend_rows) * 20 + 6)
    parts.extend(_horizontal_grid(left, plot, top, base_y, axis_max, step, value_text))
    for index, label in enumerate(categories):
        if index % label_every == 0:
            x = left + index * slot if len(categories) > 1 else left + plot / 2
            parts.append(f'<text x="{x:.1f}" y="{base_y + 16}" text-anchor="middle">{escape(label)}</text>')
    for number, item in enumerate(series):
        points: list[tuple[float, float, float, str]] = []
        for index, value in enumerate(item.values):
            if math.isnan(value):
                continue
            x = left + index * slot if len(categories) > 1 else left + plot / 2
            points.append((x, base_y - plot_height * value / axis_max, value, categories[index]))
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            dash = ' stroke-dasharray="5 3"' if number % 2 else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{item.colour}" stroke-width="2"{dash}/>')
        for x, y, value, label in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{item.colour}">'
                         f"<title>{escape(f'{item.name} — {label}: {value_text(value)}')}</title></circle>")
    parts.extend(_legend(legend_rows, height + 2))
    parts.append("</svg>")
    return "".join(parts)


def _open(ident: str, title: str, desc: str, width: int, height: float) -> list[str]:
    return [
        f'<svg role="img" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" aria-labelledby={quoteattr(f"{ident}-title {ident}-desc")} '
        f"{FONT}>",
        f'<title id={quoteattr(ident + "-title")}>{escape(title)}</title>',
        f'<desc id={quoteattr(ident + "-desc")}>{escape(desc)}</desc>',
    ]


def _vertical_grid(left: float, plot: float, top: float, bottom: float, axis_max: float, step: float,
                   value_text: ValueText) -> list[str]:
    parts = []
    ticks = round(axis_max / step)
    for tick in range(ticks + 1):
        x = left + plot * tick / ticks
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" fill="#555">'
                     f"{escape(value_text(step * tick))}</text>")
    return parts


def _horizontal_grid(left: float, plot: float, top: float, bottom: float, axis_max: float, step: float,
                     value_text: ValueText) -> list[str]:
    parts = []
    ticks = round(axis_max / step)
    for tick in range(ticks + 1):
        y = bottom - (bottom - top) * tick / ticks
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
                     f"{escape(value_text(step * tick))}</text>")
    return parts


def _legend_rows(series: Sequence[Series], width: int) -> list[list[Series]]:
    rows: list[list[Series]] = [[]]
    used = 0.0
    for item in series:
        size = 26 + len(item.name) * _CHAR_WIDTH + 14
        if rows[-1] and used + size > width - 16:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += size
    return [row for row in rows if row]


def _legend(rows: Sequence[Sequence[Series]], y: float) -> list[str]:
    parts = []
    for number, row in enumerate(rows):
        x = 8.0
        line_y = y + number * 20
        for item in row:
            parts.append(f'<rect x="{x:.1f}" y="{line_y:.1f}" width="14" height="14" fill="{item.colour}"/>')
            parts.append(f'<text x="{x + 19:.1f}" y="{line_y + 11:.1f}">{escape(item.name)}</text>')
            x += 26 + len(item.name) * _CHAR_WIDTH + 14
    return parts


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
