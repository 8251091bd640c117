"""`lfl explore ...`: define a landscape, basin-hopping chunks (transition-state searches follow)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger(__name__)


def register(groups) -> None:
    parser = groups.add_parser("explore", help="define landscapes and explore them")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    define = sub.add_parser("define", help="write a landscape definition file (JSON)")
    define.add_argument("--json", required=True, help="the definition as a JSON string")
    define.add_argument("--out", required=True)
    define.set_defaults(func=run_define)

    hop = sub.add_parser("basin-hopping", help="one chunk of one basin-hopping run")
    hop.add_argument("--landscape", required=True, help="landscape definition (JSON) from `lfl explore define`")
    hop.add_argument("--draw", required=True, help="the landscape's training/testing draw (.npz)")
    hop.add_argument("--run", type=int, required=True, help="run number (independent walks: 0, 1, ...)")
    hop.add_argument("--chunk", type=int, default=0, help="chunk number within the run (0 starts the walk)")
    hop.add_argument("--steps", type=int, required=True, help="basin-hopping steps in this chunk")
    hop.add_argument("--previous", help="the run's previous chunk file (required for chunk > 0)")
    hop.add_argument("--out", required=True)
    hop.set_defaults(func=run_basin_hopping)


def run_define(args: argparse.Namespace) -> int:
    from lfl.errors import LflError
    from lfl.landscape import save_definition

    try:
        definition = json.loads(args.json)
    except json.JSONDecodeError as exc:
        raise LflError(f"--json: not valid JSON ({exc})") from None
    save_definition(definition, args.out)
    return 0


# minima of networks up to this many weights are verified by the dense Hessian (cheap there, and
# Lanczos struggles with the cluster of eigenvalues near 2*lambda of these losses), larger ones by Lanczos
VERIFY_DENSE_MAX = 1000


class _Progress:
    """One log line every few seconds; a live line on a terminal."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total = name, total
        self.tty = sys.stderr.isatty()

    def __call__(self, report, step: int) -> None:
        lowest = min((m.energy for m in report.minima), default=float("nan"))
        line = (f"{self.name}: step {step}/{self.total}, {len(report.minima)} minima seen, lowest {lowest:.10g}, "
                f"{report.quenches_per_second:.1f} quenches/s")
        if self.tty:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
        else:
            log.info(line)

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def run_basin_hopping(args: argparse.Namespace) -> int:
    import numpy as np

    from lfl import __version__
    from lfl.errors import LflError
    from lfl.explore.basin_hopping import (
        BasinHoppingReport,
        BasinHoppingSettings,
        basin_hopping,
        distinct_minima_counted,
        start_walk,
    )
    from lfl.explore.chunks import load_chunk, save_chunk
    from lfl.explore.eigenvector_following import hessian_index
    from lfl.explore.network_quench import make_quench, quench_settings
    from lfl.landscape import load_landscape

    if args.run < 0 or args.chunk < 0:
        raise LflError("--run and --chunk must be >= 0")
    if args.steps < 1:
        raise LflError(f"--steps must be at least 1, got {args.steps}")
    landscape = load_landscape(args.landscape, args.draw)
    definition = landscape.definition
    system = landscape.system()
    bh = definition["basin_hopping"]
    settings = BasinHoppingSettings(step_size=bh["step_size"], temperature=bh["temperature"], adaptive=bh["adaptive"])
    lbfgs, precondition = quench_settings(definition["minimiser"])
    n_walkers = int(bh.get("walkers", 1))
    name = f"{landscape.name} run {args.run} chunk {args.chunk}"
    previous = None
    if args.chunk > 0:
        if not args.previous:
            raise LflError(f"chunk {args.chunk} continues chunk {args.chunk - 1}: give it with --previous")
        previous = load_chunk(args.previous).states
        if len(previous) != n_walkers:
            raise LflError(f"{args.previous}: holds {len(previous)} walker(s), basin_hopping.walkers is {n_walkers}")
        if previous[0].x.size != system.n_dof:
            raise LflError(f"{args.previous}: walker has {previous[0].x.size} weights, the landscape {system.n_dof}")
    states = None
    if n_walkers == 1:
        quench = make_quench(system, lbfgs, precondition)

        def verify(x):
            return hessian_index(system, x, dense_max=VERIFY_DENSE_MAX)

        # chunk k of run r draws from its own stream: chunks continue each other exactly
        rng = np.random.default_rng([int(bh["seed"]), args.run, args.chunk])
        report = BasinHoppingReport()
        if previous is None:
            x0 = system.random_weights(rng, 1.0)
            state = start_walk(x0, quench=quench, verify=verify, step_size=settings.step_size, report=report, rng=rng)
        else:
            state = previous[0]
        progress = _Progress(name, args.steps)
        report = basin_hopping(state, n_steps=args.steps, settings=settings, rng=rng, quench=quench, verify=verify,
                               report=report, progress=progress)
        progress.close()
    else:
        from lfl.explore.basin_hopping import combined_report
        from lfl.explore.lockstep import check_lockstep, lockstep_basin_hopping

        check_lockstep(system, lbfgs, precondition)
        # walker w of run r, chunk k: its own stream, so chunks continue each other exactly
        rngs = [np.random.default_rng([int(bh["seed"]), args.run, args.chunk, w]) for w in range(n_walkers)]
        starts = previous or [system.random_weights(rng, 1.0) for rng in rngs]
        reports = lockstep_basin_hopping(system, list(zip(starts, rngs)), n_steps=args.steps, settings=settings,
                                         lbfgs=lbfgs, dense_max=VERIFY_DENSE_MAX, name=name)
        report = combined_report(reports)
        states = [r.state for r in reports]
    identity = definition["identity"]
    mode = definition["symmetry"]
    from lfl.compile_time import compile_seconds
    from lfl.explore.saturation import process_cpu_seconds

    distinct, sightings = distinct_minima_counted(
        report.minima,
        energy_tol=identity["energy_tol"],
        distance_tol=identity["distance_tol"],
        distance=system.distance if mode == "reduced" else None,
        by_energy_only=mode == "energy",
    )
    metadata = {
        "landscape": landscape.name,
        "run": args.run,
        "chunk": args.chunk,
        "steps": args.steps,
        "walkers": n_walkers,
        "n_quenches": report.n_quenches,
        "n_unconverged": report.n_unconverged,
        "n_not_minimum": report.n_not_minimum,
        "n_unverified": report.n_unverified,
        "n_accepted": report.n_accepted,
        "n_minima_seen": len(report.minima),
        "n_distinct": len(distinct),
        "n_iterations": report.n_iterations,
        "seconds": report.seconds,
        "quenches_per_second": report.quenches_per_second,
        "lfl_version": __version__,
        "cpu_seconds": process_cpu_seconds(),
        "compile_seconds": compile_seconds(),
    }
    save_chunk(args.out, distinct, report, metadata, system.n_dof, sightings, states)
    lowest = min((m.energy for m in distinct), default=float("nan"))
    log.info(
        "%s run %d chunk %d: %d quenches (%d unconverged, %d not minima), %d distinct minima, lowest %.10g, "
        "%.1f quenches/s", landscape.name, args.run, args.chunk, report.n_quenches, report.n_unconverged,
        report.n_not_minimum, len(distinct), lowest, report.quenches_per_second,
    )
    if report.n_unconverged:
        log.warning("%d of %d quenches did not converge (raise minimiser.max_iterations?)",
                    report.n_unconverged, report.n_quenches)
    return 0
