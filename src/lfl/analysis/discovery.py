"""Discovery curves: how a landscape's network grew with the effort spent (SCIENCE.md §6).

From the landscape's ``exploration_rounds`` rows (one per ingest, oldest first): cumulative CPU
seconds against the minima and transition states held after each step, the estimated totals (the
points stored plus the Chao1 estimate of those unseen, with the 95 % interval, once independent
searches have run), and the step at which saturation was declared. A complete landscape's curves
flatten and meet their estimates: more CPU time adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

DISCOVERY_STEM = "discovery_curve"
STUDY_DISCOVERY_STEM = "discovery_curves"


def discovery_curve(rounds: Sequence[dict]) -> dict[str, np.ndarray | int | None]:
    """Arrays ``cpu_seconds`` (cumulative), ``n_minima``, ``n_transition_states``, ``stage`` per step,
    and ``saturated_at``: the index of the first step that declared saturation (None: never)."""
    cpu = np.cumsum([float(r["cpu_seconds"]) for r in rounds]) if rounds else np.zeros(0)
    saturated = [i for i, r in enumerate(rounds) if r.get("saturated")]

    def column(name):  # NaN where a step has no estimate (no independent draws yet)
        return np.array([np.nan if r.get(name) is None else float(r[name]) for r in rounds], dtype=np.float64)

    estimates = {f"{kind}_{part}": column(f"{kind}_{part}") for kind in ("minima", "transition_states")
                 for part in ("estimate", "estimate_low", "estimate_high")}
    return {
        **estimates,
        "cpu_seconds": cpu,
        "n_minima": np.array([int(r["n_minima"]) for r in rounds], dtype=np.int64),
        "n_transition_states": np.array([int(r["n_transition_states"]) for r in rounds], dtype=np.int64),
        "stage": [r["stage"] for r in rounds],
        "saturated_at": saturated[0] if saturated else None,
    }


def plot_discovery_curves(curves: Mapping[str, dict], *, title: str):
    """Minima (left) and transition states (right) against cumulative CPU seconds, one line per curve;
    dashed, the estimated total with its 95 % interval shaded; a star marks where saturation was
    declared, a dotted line where refinement began."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for column, kind, ax, label in (("n_minima", "minima", axes[0], "minima"),
                                    ("n_transition_states", "transition_states", axes[1], "transition states")):
        for name, curve in curves.items():
            x, y = curve["cpu_seconds"], curve[column]
            if x.size == 0:
                continue
            (line,) = ax.step(x, y, where="post", label=name, linewidth=1.5)
            estimate = curve.get(f"{kind}_estimate")
            if estimate is not None and np.isfinite(estimate).any():
                ax.step(x, estimate, where="post", color=line.get_color(), linestyle="--", linewidth=1.0)
                ax.fill_between(x, curve[f"{kind}_estimate_low"], curve[f"{kind}_estimate_high"], step="post",
                                color=line.get_color(), alpha=0.12, linewidth=0)
            if "refine" in curve["stage"]:
                start = curve["stage"].index("refine")
                ax.axvline(x[start - 1] if start else 0.0, color=line.get_color(), linestyle=":", linewidth=0.8)
            if curve["saturated_at"] is not None:
                k = curve["saturated_at"]
                ax.plot([x[k]], [y[k]], marker="*", markersize=12, color=line.get_color(), linestyle="none")
        ax.set_xlabel("CPU seconds (cumulative, every job and ingest)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if any(c["cpu_seconds"].size for c in curves.values()):
        handles, names = axes[0].get_legend_handles_labels()  # below the axes: never over a curve
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 4), fontsize="small")
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no exploration recorded", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"{title}\n(dashed: estimated total, shaded: its 95 % interval; dotted: refinement begins; "
                 "star: saturation declared)")
    return fig


__all__ = ["DISCOVERY_STEM", "STUDY_DISCOVERY_STEM", "discovery_curve", "plot_discovery_curves"]
