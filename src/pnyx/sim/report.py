"""A self-contained report.html: metrics table and inline SVG plots, no scripts, no external assets."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from pnyx.sim.engine import SimResult
from pnyx.sim.metrics import percentile

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
W, H, PAD = 640, 240, 40
Line = tuple[Sequence[float], Sequence[float]]


def write_report(results: Sequence[SimResult], path: Path, *, title: str) -> None:
    path.write_text(render(results, title=title), encoding="utf-8")


def render(results: Sequence[SimResult], *, title: str) -> str:
    days = {r.policy: [t / 86_400 for t in r.series.t_s] for r in results}
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        _table(results),
        _chart(
            "Utilisation over time (fraction, hourly)",
            "days",
            {r.policy: (days[r.policy], r.series.utilization) for r in results},
        ),
        _chart(
            "Queue length (jobs waiting)",
            "days",
            {r.policy: (days[r.policy], r.series.queue) for r in results},
        ),
        _chart(
            "Goodput lost to failures (cumulative accelerator-hours)",
            "days",
            {r.policy: (days[r.policy], [x / 3600 for x in r.series.lost_failures_acc_s]) for r in results},
        ),
        _chart(
            "Job completion time distribution (CDF)",
            "log10 JCT, s",
            {r.policy: _cdf(r.jct_s) for r in results},
        ),
        *(_shares(r) for r in results),
    ]
    body = "\n".join(parts)
    style = (
        "body{font-family:sans-serif;max-width:760px;margin:2em auto}td,th{padding:2px 8px;text-align:right}"
    )
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def _table(results: Sequence[SimResult]) -> str:
    keys = list(results[0].metrics) if results else []
    head = "".join(f"<th>{html.escape(r.policy)}</th>" for r in results)
    rows = "".join(
        f"<tr><th style='text-align:left'>{k}</th>"
        + "".join(f"<td>{r.metrics[k]:,.4g}</td>" for r in results)
        + "</tr>"
        for k in keys
    )
    return f"<table><tr><th></th>{head}</tr>{rows}</table>"


def _cdf(values: Sequence[float]) -> Line:
    import math

    ordered = sorted(v for v in values if v > 0)
    if not ordered:
        return ([], [])
    step = max(1, len(ordered) // 200)
    xs = [math.log10(ordered[i]) for i in range(0, len(ordered), step)]
    ys = [(i + 1) / len(ordered) for i in range(0, len(ordered), step)]
    return xs, ys


def _chart(title: str, xlabel: str, lines: Mapping[str, Line]) -> str:
    xs = [x for x_, _ in lines.values() for x in x_]
    ys = [y for _, y_ in lines.values() for y in y_]
    if not xs:
        return f"<h2>{html.escape(title)}</h2><p>no data</p>"
    x0, x1 = min(xs), max(xs) or 1.0
    y0, y1 = min(0.0, *ys), max(ys) or 1.0
    sx = (W - 2 * PAD) / ((x1 - x0) or 1.0)
    sy = (H - 2 * PAD) / ((y1 - y0) or 1.0)
    paths, legend = [], []
    for i, (name, (lx, ly)) in enumerate(lines.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(
            f"{PAD + (x - x0) * sx:.1f},{H - PAD - (y - y0) * sy:.1f}" for x, y in zip(lx, ly, strict=True)
        )
        paths.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{points}'/>")
        legend.append(f"<text x='{PAD + 10 + 150 * i}' y='16' fill='{colour}'>{html.escape(name)}</text>")
    axes = (
        f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - PAD}' y2='{H - PAD}' stroke='#444'/>"
        f"<line x1='{PAD}' y1='{PAD}' x2='{PAD}' y2='{H - PAD}' stroke='#444'/>"
        f"<text x='{PAD}' y='{H - 8}'>{x0:.3g}</text>"
        f"<text x='{W - PAD - 30}' y='{H - 8}'>{x1:.3g} {html.escape(xlabel)}</text>"
        f"<text x='2' y='{PAD}'>{y1:.3g}</text><text x='2' y='{H - PAD}'>{y0:.3g}</text>"
    )
    svg = _svg(W, H, axes + "".join(paths) + "".join(legend))
    return f"<h2>{html.escape(title)}</h2>{svg}"


def _shares(result: SimResult) -> str:
    rows = sorted(result.shares.items())
    if not rows:
        return ""
    top = max(max(r, e) for _, (r, e) in rows) or 1.0
    bar_h, gap = 10, 8
    height = len(rows) * (2 * bar_h + gap) + 20
    parts = []
    for i, (member, (received, entitled)) in enumerate(rows):
        y = 10 + i * (2 * bar_h + gap)
        parts.append(f"<text x='0' y='{y + bar_h + 4}'>{html.escape(member)}</text>")
        parts.append(
            f"<rect x='60' y='{y}' width='{received / top * 500:.1f}' height='{bar_h}' fill='{COLOURS[0]}'/>"
        )
        parts.append(
            f"<rect x='60' y='{y + bar_h}' width='{entitled / top * 500:.1f}' height='{bar_h}' fill='#bbb'/>"
        )
        label = f"{received * 100:.1f}% / {entitled * 100:.1f}%"
        x = 66 + max(received, entitled) / top * 500
        parts.append(f"<text x='{x:.1f}' y='{y + bar_h + 4}'>{label}</text>")
    svg = _svg(W, height, "".join(parts))
    p99 = percentile(list(result.jct_s), 99)
    return (
        f"<h2>Member shares, {html.escape(result.policy)}: received (blue) vs entitled (grey)</h2>{svg}"
        f"<p>JCT p99 {p99:,.0f} s</p>"
    )


def _svg(width: int, height: int, inner: str) -> str:
    ns = "http://www.w3.org/2000/svg"
    return f"<svg xmlns='{ns}' width='{width}' height='{height}' font-size='11'>{inner}</svg>"
