"""The learning curve: one row per greedy evaluation, as CSV and as a PNG plot.

Columns are ``episode`` and ``turns`` (training dialogues and turns so far; lifetime runs add
``conversations``), then metric names grouped by prefix and sorted: ``dialog/*`` (greedy
evaluation on held-out conversations; on lifetime runs ``dialog/success`` per conversation and
``life/*`` retention, visits, value and turns per held-out customer),
``rollout/*`` (the exploring training conversations since the previous row), ``losses/*``,
``charts/*`` and ``bc/*`` (the learner's own metrics, averaged over the same span). No wall-clock
column: the same seed gives the same bytes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

LEADING = ("episode", "turns")
#: leading columns only some runs have (lifetime runs count conversations too)
OPTIONAL_LEADING = ("conversations",)


def curve_columns(rows: list[dict]) -> list[str]:
    keys = {k for row in rows for k in row} - set(LEADING)
    lead = [*LEADING, *(k for k in OPTIONAL_LEADING if k in keys)]
    return [*lead, *sorted(keys - set(lead))]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)


def curve_csv(rows: list[dict]) -> str:
    columns = curve_columns(rows)
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(_cell(row.get(c)) for c in columns))
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written temporary


def write_curve_csv(path: Path, rows: list[dict]) -> None:
    write_atomic(path, curve_csv(rows).encode())


def _panels(metrics: list[str]) -> list[list[str]]:
    """Metrics to draw together: ``dialog/x`` or ``life/x`` with ``rollout/x`` (greedy vs
    exploring)."""
    panels, used = [], set()
    for name in metrics:
        if name in used:
            continue
        group, _, leaf = name.partition("/")
        panel = [name]
        if group in ("dialog", "life") and f"rollout/{leaf}" in metrics:
            panel.append(f"rollout/{leaf}")
        panels.append(panel)
        used.update(panel)
    return panels


def plot_curve(path: Path, rows: list[dict], title: str = "", lifetime: bool = False) -> None:
    """Small panels of metrics against training dialogues, saved as a PNG.

    Drawn on a bare ``Figure`` with the Agg canvas (no ``pyplot``: its import and figure
    manager cost ~0.5 s of CPU) and fixed margins (constrained layout measured every label's
    extent, ~1 s at every run's end)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = [c for c in curve_columns(rows) if c not in (*LEADING, *OPTIONAL_LEADING)]
    if not rows or not metrics:
        return
    panels = _panels(metrics)
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width, height = 4.2 * ncols, 2.8 * nrows
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    # fixed margins and gaps, in inches: tick labels left of a panel, tick and axis labels
    # under it, its title above it (and the figure's title above all)
    left, right, bottom, top = 0.6, 0.12, 0.5, 0.6 if title else 0.35
    gap_x, gap_y = 0.6, 0.75
    panel_w = (width - left - right - (ncols - 1) * gap_x) / ncols
    panel_h = (height - bottom - top - (nrows - 1) * gap_y) / nrows
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap_x / panel_w,
        hspace=gap_y / panel_h,
    )
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for name in panel:
            pts = [
                (r["episode"], r[name])
                for r in rows
                if isinstance(r.get(name), (int, float)) and not math.isnan(r[name])
            ]
            if pts:
                xs, ys = zip(*pts)
                held_out = name.startswith(("dialog/", "life/"))
                label = "greedy, held-out" if held_out else "training (exploring)"
                ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=label)
        if len(panel) > 1:
            ax.legend(fontsize=7)
        ax.set_title(" · ".join(panel), fontsize=9)
        ax.set_xlabel("training customers" if lifetime else "training dialogues", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if title:  # its top 0.12 in below the figure's
        fig.suptitle(title, fontsize=10, y=1 - 0.12 / height, va="top")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
