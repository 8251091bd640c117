"""A real Snakemake run of data -> basin-hopping -> connection rounds, checked in SQL and as a graph."""

import numpy as np
from sqlalchemy import create_engine, text

from lfl.db.store import LandscapeStore
from lfl.explore.eigenvector_following import hessian_index
from lfl.landscape import load_landscape
from workflow_helpers import run_snakemake, tiny_ljat3_config

LANDSCAPE = "D2_n50_e0_s0_h3_l0.001_kfull_reduced"


def connect_config(rounds: int) -> dict:
    return tiny_ljat3_config(
        basin_hopping={"runs": 2, "steps": 20, "chunk": 20, "seed": 1},
        connect={"rounds": rounds, "jobs": 2, "pairs_per_round": 4},
    )


def test_connection_rounds_join_the_landscape(tmp_path):
    url = f"sqlite:///{tmp_path}/results/landscapes.sqlite"
    result = run_snakemake(tmp_path, connect_config(rounds=3), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "results" / "landscapes" / LANDSCAPE
    landscape = load_landscape(folder / "definition.json", tmp_path / "results/draws/D2/n50_e0_s0.npz")
    system = landscape.system()
    with LandscapeStore(url) as store:
        record = store.landscape(LANDSCAPE)
        ktn = store.load_ktn(record.id)
        ts_table = store.point_table(record.id, kind="transition_states")
        ts_coords = store.coordinates(ts_table["id"], kind="transition_states")
        attempts = store.connect_attempts(record.id)
    assert ktn.n_minima >= 2 and ktn.n_transition_states >= 1
    assert len(attempts.outcomes) >= 1
    # every transition state: converged, exactly one negative eigenvalue, above both of its minima
    energies = dict(zip(ktn.minimum_ids.tolist(), ktn.minimum_energies.tolist()))
    for x, energy, m1, m2, rms in zip(ts_coords, ts_table["energy"], ts_table["min1_id"], ts_table["min2_id"],
                                      ts_table["rms_grad"]):
        assert rms < 1e-9
        n_negative, lowest, _ = hessian_index(system, x, dense_max=1000)
        assert n_negative == 1 and lowest < 0
        assert energy > energies[int(m1)] and energy > energies[int(m2)]
    # one connected component, seen by the graph and by SQL (union-find in SQL: a recursive query)
    assert ktn.connected_to_global_minimum().all()
    engine = create_engine(url)
    with engine.connect() as conn:
        reached = conn.execute(text(
            """
            WITH RECURSIVE reach(id) AS (
                SELECT id FROM minima WHERE landscape_id = :l
                  AND energy = (SELECT MIN(energy) FROM minima WHERE landscape_id = :l)
                UNION
                SELECT CASE WHEN t.min1_id = r.id THEN t.min2_id ELSE t.min1_id END
                FROM transition_states t JOIN reach r ON t.min1_id = r.id OR t.min2_id = r.id
                WHERE t.landscape_id = :l
            )
            SELECT COUNT(*) FROM reach
            """), {"l": record.id}).scalar_one()
        total = conn.execute(text("SELECT COUNT(*) FROM minima WHERE landscape_id = :l"), {"l": record.id}).scalar_one()
    engine.dispose()
    assert reached == total == ktn.n_minima
    assert np.all(ts_table["energy"] > ktn.minimum_energies.min())
