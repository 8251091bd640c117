"""numba's on-disk cache across files (issue 14, lfl.kernel_cache): after an edit to a kernel in one
module, a cached caller in another module recompiles instead of running the old callee.

Each check runs in a scratch copy of the package, in fresh processes (the cache is on disk). The
caller is ``one_layer.hidden_tanh_rows``; its callee ``transcendentals.tanh_value`` is inlined
(``inline="always"``), the case numba's own per-file stamp misses. The edit lowers tanh's clamp
from 40 to 1, so tanh(3) becomes tanh(1/2) (an independent value: numpy's tanh). The control runs
numba's own locator on the same edit and shows the stale result the package's locator prevents.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CALL_CALLER = """
import json
import numpy as np
from lfl.systems.mlp_kernels import one_layer
w1 = np.zeros((10, 2)); b1 = np.full(10, 3.0); x = np.zeros((4, 32)); acts = np.empty((10, 32))
one_layer.hidden_tanh_rows(w1, b1, x, acts, 32)
stats = one_layer.hidden_tanh_rows.stats
print(json.dumps({"value": float(acts[0, 0]), "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""

CLAMP = "_TANH_CLAMP = 40.0"
EDITED_CLAMP = "_TANH_CLAMP = 1.0"


@pytest.fixture
def package_copy(tmp_path):
    shutil.copytree(ROOT / "src" / "lfl", tmp_path / "lfl", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def run_caller(root: Path, *, numba_locator: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root), NUMBA_DISABLE_JIT="0")
    env.pop("NUMBA_CACHE_DIR", None)
    if numba_locator:
        env["NUMBA_CACHE_LOCATOR_CLASSES"] = "InTreeCacheLocator"
    else:
        env.pop("NUMBA_CACHE_LOCATOR_CLASSES", None)
    result = subprocess.run([sys.executable, "-c", CALL_CALLER], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def edit_callee(root: Path) -> None:
    path = root / "lfl" / "systems" / "mlp_kernels" / "transcendentals.py"
    source = path.read_text()
    assert source.count(CLAMP) == 1
    path.write_text(source.replace(CLAMP, EDITED_CLAMP))


def test_an_edited_callee_recompiles_its_cached_caller(package_copy):
    first = run_caller(package_copy)
    assert first["misses"] == 1 and first["value"] == pytest.approx(math.tanh(3.0), rel=1e-15)
    again = run_caller(package_copy)
    assert again["hits"] == 1 and again["misses"] == 0  # the cache works: loaded, not compiled
    edit_callee(package_copy)
    edited = run_caller(package_copy)
    assert edited["misses"] == 1 and edited["hits"] == 0
    assert edited["value"] == pytest.approx(math.tanh(0.5), rel=1e-15)
    assert run_caller(package_copy)["hits"] == 1  # and the new code is cached in turn


def test_numba_own_locator_would_run_the_stale_callee(package_copy):
    assert run_caller(package_copy, numba_locator=True)["value"] == pytest.approx(math.tanh(3.0), rel=1e-15)
    edit_callee(package_copy)
    stale = run_caller(package_copy, numba_locator=True)
    assert stale["hits"] == 1
    assert stale["value"] == pytest.approx(math.tanh(3.0), rel=1e-15)  # the old tanh, silently


def test_edits_outside_the_kernels_keep_the_cache(package_copy):
    run_caller(package_copy)
    cli = package_copy / "lfl" / "cli.py"
    cli.write_text(cli.read_text() + "\n# an edit that touches no kernel\n")
    assert run_caller(package_copy)["hits"] == 1
