"""Charts as inline SVG, drawn on the server: they show without JavaScript and print as they are seen."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#1f5fa8", "#d98c1f", "#2e8b57", "#b03a2e", "#6c4fa3", "#5c6b73", "#c2185b", "#00838f")


def bars(items: Sequence[tuple[str, int]], *, title: str, percent_of: int | None = None) -> Markup:
    """Horizontal bars, one per (label, value), with the value written at the end of each bar."""
    width, label_w, row_h = 560, 210, 26
    height = 30 + row_h * max(1, len(items))
    top = max([v for _, v in items] + [1])
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(items):
        y = 28 + index * row_h
        bar = int((width - label_w - 70) * value / top)
        shown = f"{value}"
        if percent_of:
            shown += f" ({value * 100 / percent_of:.0f}%)"
        parts += [
            f'<text x="0" y="{y + 14}" class="chart-label">{escape(label)}</text>',
            f'<rect x="{label_w}" y="{y + 2}" width="{max(bar, 1)}" height="{row_h - 8}" '
            f'fill="{PALETTE[index % len(PALETTE)]}"><title>{escape(label)}: {value}</title></rect>',
            f'<text x="{label_w + max(bar, 1) + 6}" y="{y + 14}" class="chart-value">{escape(shown)}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_columns(
    columns: Sequence[tuple[str, Sequence[int]]], series: Sequence[str], *, title: str
) -> Markup:
    """One column per (label, values by series), stacked, with a legend: e.g. cases per week by category."""
    width, height, left, bottom, legend_h = 640, 260, 36, 40, 20 * len(series)
    plot_h = height - bottom - 30
    top = max([sum(values) for _, values in columns] + [1])
    step = (width - left) / max(1, len(columns))
    total_h = height + legend_h
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {total_h}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" class="chart-title">{escape(title)}</text>',
        f'<text x="0" y="{30 + 10}" class="chart-value">{top}</text>',
        f'<line x1="{left}" y1="{30 + plot_h}" x2="{width}" y2="{30 + plot_h}" stroke="#888"/>',
    ]
    every = max(1, len(columns) // 12)
    for index, (label, values) in enumerate(columns):
        x = left + index * step
        y: float = 30 + plot_h
        for serie, value in enumerate(values):
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[serie % len(PALETTE)]}"><title>{escape(label)} · {escape(series[serie])}: '
                f"{value}</title></rect>"
            )
        if index % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{30 + plot_h + 16}" class="chart-axis">{escape(label)}</text>')
    for serie, name in enumerate(series):
        y = height + serie * 20
        parts += [
            f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{PALETTE[serie % len(PALETTE)]}"/>',
            f'<text x="{left + 18}" y="{y}" class="chart-label">{escape(name)}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))
