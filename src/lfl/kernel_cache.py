"""numba's on-disk cache of compiled kernels, made safe across files.

numba stamps a cached kernel with the source of its own file only, so after an edit to a kernel in
one file, a cached caller in another file keeps the old code of the callee it had inlined or linked
(``cache=True`` everywhere; a stale caller gives wrong numbers, silently). Every kernel of lfl is
therefore cached under one stamp: a hash of the sources of every lfl module that uses numba. An edit
to any of them recompiles every kernel once, the next run loads them again; edits elsewhere (the
commands, the database) leave the cache alone. Kernel modules call :func:`install` before their first
``@njit``; kernels outside lfl (benchmarks, tests) keep numba's own locators.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

from numba.core import caching, config

PACKAGE_ROOT = Path(__file__).resolve().parent


_IMPORTS_NUMBA = re.compile(rb"^[ \t]*(?:import|from)[ \t]+numba\b", re.MULTILINE)


def kernel_sources(root: Path = PACKAGE_ROOT) -> list[Path]:
    """The modules under ``root`` that import numba, in a fixed order."""
    return [path for path in sorted(root.rglob("*.py")) if _IMPORTS_NUMBA.search(path.read_bytes())]


@functools.lru_cache(maxsize=None)
def sources_stamp(root: Path = PACKAGE_ROOT) -> str:
    """SHA-256 over the relative paths and contents of :func:`kernel_sources` (once per process:
    a running job never sees its sources change)."""
    digest = hashlib.sha256()
    for path in kernel_sources(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


class PackageSourcesLocator(caching.InTreeCacheLocator):
    """numba's in-tree locator (``__pycache__`` beside the file, or ``NUMBA_CACHE_DIR``) with
    :func:`sources_stamp` as the freshness stamp, for the files of this package only."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        if config.CACHE_DIR:
            self._cache_path = os.path.join(config.CACHE_DIR, self.get_suitable_cache_subpath(py_file))

    def get_source_stamp(self):
        return sources_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            Path(py_file).resolve().relative_to(PACKAGE_ROOT)
        except ValueError:
            return None
        return super().from_function(py_func, py_file)


def install() -> None:
    """Put :class:`PackageSourcesLocator` first among numba's locators (idempotent)."""
    locators = caching.CacheImpl._locator_classes
    if PackageSourcesLocator not in locators:
        locators.insert(0, PackageSourcesLocator)
