"""Thread counts: a Snakemake job with `threads: n` must use n cores, no more.

Set before numpy/numba are imported (environment variables) and again after (runtime APIs), so that
parallel jobs on a 2-core machine do not oversubscribe it.
"""

import os

_ENV_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_thread_environment(n_threads: int) -> None:
    """Call before importing numpy or numba (the CLI does this first)."""
    n = max(1, int(n_threads))
    for name in _ENV_VARS:
        os.environ[name] = str(n)


def configure_threads(n_threads: int | None) -> int:
    """Apply a thread count to numba and BLAS at run time; returns the count in force."""
    import numba

    n = numba.config.NUMBA_NUM_THREADS if n_threads is None else max(1, int(n_threads))
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # threadpoolctl ships with scikit-learn; without it BLAS keeps its env setting
        pass
    return n
