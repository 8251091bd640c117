"""The text of `lfl db show minimum|ts ID`: one stationary point laid out for a reader who does not
want SQL for it (energy, Hessian data, metrics, neighbours in the network, sightings, and the
weights per layer in the network's own layout: ``W{l}[j, i]`` from node i of layer l-1 to node j of
layer l, then the biases ``b{l}[j]``; frozen weights of a reduced connectivity shown as ``·``)."""

from __future__ import annotations

import numpy as np


def format_point(kind: str, details: dict, spec) -> str:
    from lfl.systems.network import ParameterLayout

    row = details["row"]
    what = "minimum" if kind == "minimum" else "transition state"
    lines = [f"{what} {row['id']} of landscape '{spec.name}' ({spec.dataset}, {spec.error_pct:g} % mislabelled, "
             f"network {list(spec.architecture)}, lambda {spec.l2_lambda:g})",
             f"  energy (training loss E)   {row['energy']:.12g}",
             f"  RMS gradient               {_value(row.get('rms_grad'), '.3g')}"]
    if kind == "minimum":
        lines.append(f"  negative Hessian eigenvalues {_value(row.get('n_neg_eig'), 'd')}")
    else:
        lines.append(f"  negative eigenvalue        {_value(row.get('neg_eigenvalue'), '.6g')}")
    lines += [f"  ln prod positive eigenvalues {_value(row.get('log_prod_pos_eig'), '.6g')}",
              f"  found by                   {row.get('found_by') or '–'}"]
    if kind == "minimum":
        metrics = details["metrics"]
        if metrics:
            lines.append("  metrics:")
            for split in ("train", "train_correct", "train_incorrect", "test"):
                values = [(m, v) for (s, m), v in metrics.items() if s == split]
                if values:
                    lines.append(f"    {split:<16} " + "  ".join(f"{m} {_value(v, '.6g')}" for m, v in values))
        else:
            lines.append("  metrics: none yet (`lfl analyse metrics`)")
        neighbours = details["neighbours"]
        lines.append(f"  transition states: {len(neighbours)} (lowest first; barrier = E_ts - E of this minimum)")
        for ts_id, ts_energy, other, other_energy in neighbours:
            to = "itself (degenerate)" if other == row["id"] else f"minimum {other} (E {other_energy:.10g})"
            lines.append(f"    ts {ts_id:<8} E {ts_energy:.10g}  barrier {ts_energy - row['energy']:.4g}  to {to}")
    else:
        (a, ea), (b, eb) = details["ends"]
        lines.append(f"  joins minimum {a} (E {ea:.10g}, barrier {row['energy'] - ea:.4g}) and minimum {b} "
                     f"(E {eb:.10g}, barrier {row['energy'] - eb:.4g})" + (" (degenerate)" if a == b else ""))
    if details["sightings"]:
        lines.append("  sightings (stage, step, search, times, independent draw):")
        for stage, step, search, n, independent in details["sightings"]:
            lines.append(f"    {stage:<14} {step:<30} {search:<17} {n:>4}  {'yes' if independent else 'no'}")
    layout = ParameterLayout(tuple(spec.architecture), spec.connectivity_k)
    full = layout.to_full(details["coords"])
    mask = layout.variable_mask
    lines.append(f"  weights ({layout.n_variable} variable of {layout.n_full}; W{{l}}[j, i]: node i of layer l-1 to "
                 "node j of layer l):")
    for l, ((weights, bias), offset) in enumerate(zip(layout.unpack(full), layout.weight_offsets), start=1):
        frozen = ~mask[offset: offset + weights.size].reshape(weights.shape)
        lines.append(f"    W{l} ({weights.shape[0]} x {weights.shape[1]}):")
        for j in range(weights.shape[0]):
            cells = ["·".rjust(10) if frozen[j, i] else f"{weights[j, i]:10.4g}" for i in range(weights.shape[1])]
            lines.append("      " + " ".join(cells))
        lines.append(f"    b{l}: " + " ".join(f"{value:.4g}" for value in np.asarray(bias)))
    return "\n".join(lines)


def _value(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return format(value, spec)


__all__ = ["format_point"]
