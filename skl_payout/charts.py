"""Line charts as inline SVG for self-contained HTML (no scripts, no network)."""

from __future__ import annotations

from html import escape

from . import fmt

COLOURS = ["#1a4d8f", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 260, 90, 150, 14, 44


def line_chart(xs: list[float], series: dict[str, list[int]], x_label: str, y_label: str, ticks: list[str],
               money: bool = False) -> str:
    """One line per series against xs; the y axis from 0 (or the lowest value) to the highest, labelled
    with exact figures. Coordinates are floats: they place ink, they decide nothing."""
    values = [v for vs in series.values() for v in vs]
    if not xs or not values:
        return ""
    low, high = min(0, min(values)), max(values)
    span_y = (high - low) or 1
    x0, x1 = min(xs), max(xs)
    span_x = (x1 - x0) or 1
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / span_x * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (y - low) / span_y * plot_h

    label = (lambda v: fmt.kr(v)) if money else (lambda v: fmt.number(v))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'role="img" aria-label="{escape(y_label)} mot {escape(x_label)}">',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#444"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#444"/>']
    for y in sorted({low, high, (low + high) // 2}):
        parts.append(f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end" font-size="11">{escape(label(y))}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + plot_w}" y2="{py(y):.1f}" stroke="#ddd"/>')
    shown = sorted({0, len(xs) - 1, (len(xs) - 1) // 2})
    for i in shown:
        parts.append(f'<text x="{px(xs[i]):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11">'
                     f'{escape(str(ticks[i]))[:24]}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{H - 6}" text-anchor="middle" font-size="12">'
                 f'{escape(x_label)}</text>')
    for n, (name, vs) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, vs))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{LEFT + plot_w + 8}" y="{TOP + 14 + 16 * n}" font-size="12" fill="{colour}">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
