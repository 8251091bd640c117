"""What the package-wide numba cache stamp (lfl.kernel_cache) costs and saves, measured in one run.

In a scratch copy of the package (its own ``__pycache__``), fresh processes each build a
[2,10,4,1000] network system and call what a basin-hopping job calls (energy+gradient through the
compiled quench's kernel, the dense Hessian) and a Hessian-vector product; printed per process: the
seconds of those first calls (compiling or loading the kernels), and the seconds to compute the
stamp itself (hashing every module that imports numba), for
1. a cold cache (nothing compiled yet),
2. a warm cache (the run before left everything on disk),
3. after an edit to a kernel module (a comment added to ``transcendentals.py``): every kernel
   recompiles once, the price of never running a stale caller,
4. after an edit elsewhere (a comment in ``cli.py``): the cache stays valid.

    python bench/bench_kernel_cache.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIRST_CALLS = """
import json, time
t0 = time.perf_counter()
from lfl import kernel_cache
stamp_started = time.perf_counter()
kernel_cache.sources_stamp()
stamp = time.perf_counter() - stamp_started
import numpy as np
from lfl.systems.mlp import MLPSystem
rng = np.random.default_rng(0)
inputs = rng.normal(size=(1000, 2)); labels = rng.integers(0, 4, 1000)
system = MLPSystem([2, 10, 4, 1000, 1e-4], inputs, labels)
x = system.random_weights(rng)
imported = time.perf_counter() - t0
t1 = time.perf_counter()
system.energy_gradient(x)
system.hessian(x)
system.hessian_vector(x, np.ones_like(x))
calls = time.perf_counter() - t1
print(json.dumps({"stamp": stamp, "imports": imported, "first_calls": calls}))
"""


def first_calls(root: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run([sys.executable, "-c", FIRST_CALLS], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def touch(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "src" / "lfl", root / "lfl", ignore=shutil.ignore_patterns("__pycache__"))
        rows = [("cold cache", first_calls(root)), ("warm cache", first_calls(root))]
        touch(root / "lfl" / "systems" / "mlp_kernels" / "transcendentals.py")
        rows.append(("after a kernel edit", first_calls(root)))
        rows.append(("warm again", first_calls(root)))
        touch(root / "lfl" / "cli.py")
        rows.append(("after a non-kernel edit", first_calls(root)))
    print("[2,10,4,1000] system: energy+gradient, dense Hessian, Hessian-vector product; fresh process each")
    print(f"{'case':26s} {'first calls s':>14s} {'imports s':>10s} {'stamp ms':>9s}")
    for name, row in rows:
        print(f"{name:26s} {row['first_calls']:14.2f} {row['imports']:10.2f} {1000 * row['stamp']:9.1f}")


if __name__ == "__main__":
    main()
