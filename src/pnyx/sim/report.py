"""A self-contained report.html: metrics table and inline SVG plots, no scripts, no external assets.

It wears the portal's style: the portal's stylesheet (``pnyx/portal/static/style.css``, read as a
package file, not imported) is copied into the page, and the plots use the portal's colours."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from pnyx.sim.engine import SimResult
from pnyx.sim.metrics import percentile

COLOURS = ("#2f5bd3", "#b3261e", "#17803d", "#7a3fb0", "#b0601e")  # the portal's accent, bad, good, …
ENTITLED = "#8a9ac8"
PORTAL_CSS = ("pnyx.portal", "static/style.css")
REPORT_CSS = "svg{max-width:100%;height:auto;background:#fff;border:1px solid var(--line);border-radius:8px}"
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
    head = (
        f"<meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} · Pnyx</title><style>{portal_css()}{REPORT_CSS}</style>"
    )
    header = "<header><span class='brand'>Pnyx</span><span class='tagline'>simulator report</span></header>"
    footer = (
        "<footer>Written by <code>pnyx simulate</code>: one file, no scripts, no external assets.</footer>"
    )
    page = f"{header}<main>{body}</main>{footer}"
    return f"<!doctype html><html lang='en'><head>{head}</head><body>{page}</body></html>"


def portal_css() -> str:
    """The portal's stylesheet, as installed with the package."""
    package, name = PORTAL_CSS
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def _table(results: Sequence[SimResult]) -> str:
    keys = list(results[0].metrics) if results else []
    head = "".join(f"<th scope='col' class='num'>{html.escape(r.policy)}</th>" for r in results)
    rows = "".join(
        f"<tr><th scope='row'>{html.escape(k)}</th>"
        + "".join(f"<td class='num'>{r.metrics[k]:,.4g}</td>" for r in results)
        + "</tr>"
        for k in keys
    )
    return f"<table><thead><tr><th scope='col'>Metric</th>{head}</tr></thead><tbody>{rows}</tbody></table>"


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
        f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - PAD}' y2='{H - PAD}' stroke='#5b6475'/>"
        f"<line x1='{PAD}' y1='{PAD}' x2='{PAD}' y2='{H - PAD}' stroke='#5b6475'/>"
        f"<text x='{PAD}' y='{H - 8}'>{x0:.3g}</text>"
        f"<text x='{W - PAD - 30}' y='{H - 8}'>{x1:.3g} {html.escape(xlabel)}</text>"
        f"<text x='2' y='{PAD}'>{y1:.3g}</text><text x='2' y='{H - PAD}'>{y0:.3g}</text>"
    )
    svg = _svg(W, H, axes + "".join(paths) + "".join(legend), title)
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
            f"<rect x='60' y='{y + bar_h}' width='{entitled / top * 500:.1f}' height='{bar_h}' "
            f"fill='{ENTITLED}'/>"
        )
        label = f"{received * 100:.1f}% / {entitled * 100:.1f}%"
        x = 66 + max(received, entitled) / top * 500
        parts.append(f"<text x='{x:.1f}' y='{y + bar_h + 4}'>{label}</text>")
    heading = f"Member shares, {result.policy}: received (blue) vs entitled (grey-blue)"
    svg = _svg(W, height, "".join(parts), heading)
    p99 = percentile(list(result.jct_s), 99)
    return f"<h2>{html.escape(heading)}</h2>{svg}<p>JCT p99 {p99:,.0f} s</p>"


def _svg(width: int, height: int, inner: str, label: str) -> str:
    ns = "http://www.w3.org/2000/svg"
    return (
        f"<svg xmlns='{ns}' width='{width}' height='{height}' viewBox='0 0 {width} {height}' font-size='11' "
        f"role='img' aria-label='{html.escape(label, quote=True)}'>{inner}</svg>"
    )
