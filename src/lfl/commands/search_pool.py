"""Running a round's searches: in the calling process or in a pool of forked workers (shared by the
connection and refinement stages).

Each task is pure and seeded by the task itself (its coordinates and, for random directions, the
direction drawn when the round was planned), so what a round finds does not depend on the number of
workers: results come back in task order. The workers are forked once per stage, after the parent
has loaded the landscape's compiled kernels, and read the system and settings from :data:`CONTEXT`
(inherited, never pickled).
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

# The forked workers' context, set by the stage before its pool starts (inherited, never pickled).
CONTEXT: dict = {}


def _run_task(k: int, kind: str, mode: int, coords1, coords2) -> tuple:
    """One search in a worker: (k, result, seconds, CPU seconds, compile seconds). Pure and seeded by
    its task: the same task gives the same result in any worker."""
    from lfl import compile_time
    from lfl.errors import LflError
    from lfl.explore.transition_states import ConnectionResult

    system, options, settings, quench, verify = (CONTEXT[name] for name in ("system", "options", "settings",
                                                                             "quench", "verify"))
    started, cpu, compiled = time.perf_counter(), time.process_time(), compile_time.compile_seconds()
    try:
        if kind == "random_start":
            res = quench(coords1)
            n_neg, _, log_prod = verify(res.x)
            result = (res, int(n_neg), float(log_prod))
        elif kind in ("single_ended", "random_direction"):
            from lfl.explore.single_ended import single_ended_search

            if kind == "single_ended":
                result = single_ended_search(system, coords1, [mode], options, step=settings["single_ended_step"])
            else:
                result = single_ended_search(system, coords1, [0], options, step=settings["random_direction_step"],
                                             directions=coords2[None, :])
        else:
            from lfl.explore.connection_attempt import connect_pair

            if kind == "random_copy":  # the copy as drawn: aligning it would undo the draw
                from dataclasses import replace

                options = replace(options, dneb=replace(options.dneb, align=False))
            result = connect_pair(system, coords1, coords2, options)
    except LflError as exc:  # e.g. the two ends are one minimum: a failed attempt, not a failed stage
        log.warning("task %d (%s): %s", k, kind, exc)
        result = ConnectionResult([], [], False, False, "error", {})
    return (k, result, time.perf_counter() - started, time.process_time() - cpu,
            compile_time.compile_seconds() - compiled)


def round_records(tasks, outcomes: list[tuple], n_dof: int, metadata: dict):
    """The round's results in the connect jobs' records format, random-start quenches as quench_*."""
    import numpy as np

    from lfl.explore.connection_files import records_from_results

    attempts, quenches = [], {name: [] for name in ("coords", "energy", "rms_gradient", "n_negative",
                                                    "log_prod_positive", "task")}
    attempt_tasks = []
    for k, result, seconds, _, _ in outcomes:
        if tasks.kind(k) == "random_start":
            if not isinstance(result, tuple):
                continue  # the quench failed outright
            res, n_neg, log_prod = result
            if res.success and n_neg == 0:  # a verified minimum; anything else is no sighting
                for name, value in (("coords", res.x), ("energy", res.energy), ("rms_gradient", res.rms_gradient),
                                    ("n_negative", n_neg), ("log_prod_positive", log_prod), ("task", k)):
                    quenches[name].append(value)
            continue
        attempts.append((int(tasks.min1_ids[k]), int(tasks.min2_ids[k]), result, seconds))
        attempt_tasks.append(k)
    records = records_from_results(attempts, n_dof, metadata)
    index = np.array(attempt_tasks, dtype=np.int64)
    records.arrays["attempt_task"] = tasks.task_codes[index]
    records.arrays["attempt_mode"] = tasks.modes[index]
    records.arrays["attempt_index"] = index
    records.arrays["quench_coords"] = np.array(quenches["coords"], dtype=np.float64).reshape(-1, n_dof)
    records.arrays["quench_n_negative"] = np.array(quenches["n_negative"], dtype=np.int64)
    records.arrays["quench_task"] = np.array(quenches["task"], dtype=np.int64)
    for name in ("energy", "rms_gradient", "log_prod_positive"):
        records.arrays[f"quench_{name}"] = np.array(quenches[name], dtype=np.float64)
    return records


class SearchPool:
    """Runs a round's tasks in the calling process (one worker) or a pool of forked workers, kept for
    the whole stage (started once, after this process has loaded the compiled kernels, which the
    fork shares).

    Sets up what every search needs from the landscape: its system, the network quench of
    basin-hopping (random starts) and the dense Hessian check of a minimum, the connection settings
    (``options``) and the stage's settings."""

    def __init__(self, landscape, options, settings: dict, workers: int) -> None:
        from lfl.errors import LflError
        from lfl.explore.eigenvector_following import hessian_index
        from lfl.explore.network_quench import make_quench, quench_settings

        if workers < 1:
            raise LflError(f"--workers must be >= 1, got {workers}")
        self.system = system = landscape.system()
        self.quench = make_quench(system, *quench_settings(landscape.definition["minimiser"]))

        def verify(x):  # dense up to 1000 weights, as basin-hopping checks its minima
            return hessian_index(system, x, dense_max=1000)

        self.verify = verify
        CONTEXT.update(system=system, options=options, settings=settings, quench=self.quench, verify=verify)
        self.workers = workers
        self.pool = None
        self.warm = False

    def __enter__(self) -> "SearchPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, tasks) -> list[tuple]:
        """(task, result, seconds, worker CPU seconds, worker compile seconds) per task, in task order;
        the worker columns are 0 for tasks run in this process (its own clock counts them)."""
        arguments = [(k, tasks.kind(k), int(tasks.modes[k]), tasks.coords1[k], tasks.coords2[k])
                     for k in range(len(tasks))]
        if arguments and not self.warm:
            self.verify(self.quench(tasks.coords1[0]).x)  # load the kernels here, before any fork
            self.warm = True
        if self.workers == 1 or len(arguments) <= 1:
            return [(k, result, seconds, 0.0, 0.0) for k, result, seconds, _, _ in (_run_task(*a) for a in arguments)]
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        from concurrent.futures.process import BrokenProcessPool

        from lfl.errors import LflError

        futures = [self.pool.submit(_run_task, *a) for a in arguments]
        try:
            return [f.result() for f in futures]  # submitted in task order
        except BrokenProcessPool:
            raise LflError("a search worker died (killed, or out of memory); nothing of this round was "
                           "written: run the stage again") from None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


__all__ = ["CONTEXT", "SearchPool", "round_records"]
