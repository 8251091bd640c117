"""The store on both backends: landscapes, idempotent ingest, symmetry modes, the KTN, metrics, views."""

import re
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from lfl.db import LandscapeStore, MinimaBatch, TransitionStateBatch
from lfl.errors import DataError, LflError

TOL = 2.0**-20
DOCS = Path(__file__).resolve().parents[1] / "docs" / "database.md"


@pytest.fixture
def store(db_url):
    with LandscapeStore(db_url, create=True) as s:
        yield s


def random_minima(rng, m, n_dof=12, low=0.0, high=1.0):
    # energies on a grid far coarser than the tolerance: every row a distinct minimum
    energies = rng.choice(np.arange(low, high, 1e-4), size=m, replace=False)
    return energies, rng.normal(size=(m, n_dof))


def test_get_or_create_landscape_is_idempotent_and_refuses_conflicts(store, make_spec):
    first = store.get_or_create_landscape(make_spec("a"))
    again = store.get_or_create_landscape(make_spec("a"))
    assert first.id == again.id and first.spec == again.spec
    other = store.get_or_create_landscape(make_spec("b", n_data=200))
    assert other.id != first.id
    with pytest.raises(LflError, match="exists with other parameters.*n_data: stored 100, given 300"):
        store.get_or_create_landscape(make_spec("a", n_data=300))
    with pytest.raises(LflError, match="same parameters are stored as landscape 'a'"):
        store.get_or_create_landscape(make_spec("c"))
    assert [l.name for l in store.landscapes()] == ["a", "b"]
    assert store.landscape("b").spec.n_data == 200
    with pytest.raises(LflError, match="no landscape 'zzz'"):
        store.landscape("zzz")


def test_ingesting_the_same_batch_twice_adds_nothing(store, make_spec):
    rng = np.random.default_rng(1)
    land = store.get_or_create_landscape(make_spec())
    energies, coords = random_minima(rng, 200)
    side_e, side_x = random_minima(rng, 20, low=1.0, high=2.0)
    ts = TransitionStateBatch(
        energies=rng.uniform(3, 4, 10),
        coords=rng.normal(size=(10, 12)),
        min1=MinimaBatch(side_e[:10], side_x[:10]),
        min2=MinimaBatch(side_e[10:], side_x[10:]),
        neg_eigenvalue=-rng.uniform(0.1, 1, 10),
    )
    batch = MinimaBatch(energies, coords, rms_grad=1e-10, n_neg_eig=0, found_by="bh-seed-1")
    first = store.ingest(land.id, minima=batch, transition_states=ts)
    assert first.n_new_minima == 220 and first.n_new_transition_states == 10
    assert first.minimum_is_new.all() and first.ts_is_new.all()
    counts = store.counts(land.id)
    second = store.ingest(land.id, minima=batch, transition_states=ts)
    assert second.n_new_minima == 0 and second.n_new_transition_states == 0
    assert np.array_equal(second.minimum_ids, first.minimum_ids)
    assert np.array_equal(second.ts_ids, first.ts_ids)
    assert np.array_equal(second.ts_min1_ids, first.ts_min1_ids)
    assert store.counts(land.id) == counts == {"minima": 220, "transition_states": 10, "connect_attempts": 0}
    # coordinates and energies come back bit for bit
    assert np.array_equal(store.coordinates(first.minimum_ids), coords)
    assert np.array_equal(store.coordinates(first.ts_ids, kind="transition_states"), ts.coords)
    table = store.point_table(land.id)
    order = np.argsort(first.minimum_ids)
    assert np.array_equal(table["energy"][np.searchsorted(table["id"], first.minimum_ids)], energies)
    assert np.array_equal(table["coords"][np.searchsorted(table["id"], first.minimum_ids[order])], coords[order])


def test_symmetry_modes_count_copies_as_the_landscape_says(store, make_spec, block_symmetry):
    rng = np.random.default_rng(2)
    x = rng.normal(size=12)
    distinct = [x]
    while len(distinct) < 7:  # six copies, each a different image of x
        c = block_symmetry.copy(x, rng)
        if min(np.linalg.norm(c - d) for d in distinct) > 1e-3:
            distinct.append(c)
    copies = np.stack(distinct)
    copies += rng.normal(scale=1e-9, size=copies.shape)  # converged to 1e-9, not bit-identical
    other = rng.normal(size=12)  # a distinct minimum of (almost) the same energy
    coords = np.vstack([copies, other])
    energies = np.concatenate([np.full(7, 0.5), [0.5 + TOL / 2]])
    expected = {"reduced": 2, "raw": 8, "energy": 1}
    for mode, n in expected.items():
        land = store.get_or_create_landscape(make_spec(mode, symmetry_mode=mode))
        result = store.ingest(land.id, minima=MinimaBatch(energies, coords), distance=block_symmetry.distance)
        assert result.n_new_minima == n, mode
        assert store.counts(land.id)["minima"] == n
        # copies ingested again, one at a time and shuffled, are all recognised
        for row in rng.permutation(8):
            again = store.ingest(land.id, minima=MinimaBatch(energies[row : row + 1], coords[row : row + 1]), distance=block_symmetry.distance)
            assert again.n_new_minima == 0
            assert again.minimum_ids[0] == result.minimum_ids[row]


def test_energy_tolerance_at_its_edge_through_the_database(store, make_spec):
    land = store.get_or_create_landscape(make_spec(symmetry_mode="energy"))
    x = np.zeros((1, 12))
    base = store.ingest(land.id, minima=MinimaBatch([0.5], x)).minimum_ids[0]
    on_edge = store.ingest(land.id, minima=MinimaBatch([0.5 + TOL], x + 1.0))
    assert not on_edge.minimum_is_new[0] and on_edge.minimum_ids[0] == base
    below = store.ingest(land.id, minima=MinimaBatch([0.5 - TOL], x + 2.0))
    assert not below.minimum_is_new[0] and below.minimum_ids[0] == base
    beyond = store.ingest(land.id, minima=MinimaBatch([0.5 + TOL + 2.0**-40], x + 3.0))
    assert beyond.minimum_is_new[0]
    assert store.counts(land.id)["minima"] == 2


def test_transition_state_sides_as_coordinates_rows_and_ids(store, make_spec):
    rng = np.random.default_rng(3)
    land = store.get_or_create_landscape(make_spec())
    energies, coords = random_minima(rng, 6)
    minima = MinimaBatch(energies, coords)
    # rows of the minima batch of the same call
    by_rows = TransitionStateBatch([2.0, 2.1], rng.normal(size=(2, 12)), min1=[0, 1], min2=[2, 3], min_refs="rows")
    r1 = store.ingest(land.id, minima=minima, transition_states=by_rows)
    assert np.array_equal(r1.ts_min1_ids, r1.minimum_ids[[0, 1]])
    assert np.array_equal(r1.ts_min2_ids, r1.minimum_ids[[2, 3]])
    # coordinates: one side already stored (within tolerances), one side new
    new_e, new_x = 7.0, rng.normal(size=(1, 12))
    by_coords = TransitionStateBatch(
        [2.2],
        rng.normal(size=(1, 12)),
        min1=MinimaBatch(energies[4:5] + TOL / 2, coords[4:5] + 1e-6),
        min2=MinimaBatch([new_e], new_x),
    )
    r2 = store.ingest(land.id, transition_states=by_coords)
    assert r2.ts_min1_ids[0] == r1.minimum_ids[4] and r2.n_new_minima == 1
    # database ids
    by_ids = TransitionStateBatch([2.3], rng.normal(size=(1, 12)), min1=[r1.minimum_ids[5]], min2=[r2.ts_min2_ids[0]])
    r3 = store.ingest(land.id, transition_states=by_ids)
    assert r3.n_new_transition_states == 1 and r3.n_new_minima == 0
    ktn = store.load_ktn(land.id)
    assert ktn.n_minima == 7 and ktn.n_transition_states == 4
    pairs = {(int(a), int(b)) for a, b in zip(ktn.ts_min1, ktn.ts_min2)}
    assert (int(r1.minimum_ids[5]), int(r2.ts_min2_ids[0])) in pairs


def _union_find_labels(n, edges):
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        parent[find(a)] = find(b)
    return [find(i) for i in range(n)]


def test_ktn_global_minimum_and_connected_components(store, make_spec):
    rng = np.random.default_rng(4)
    land = store.get_or_create_landscape(make_spec())
    assert store.global_minimum(land.id) is None
    energies, coords = random_minima(rng, 80)
    ids = store.ingest(land.id, minima=MinimaBatch(energies, coords)).minimum_ids
    a, b = rng.integers(0, 80, size=(2, 60))
    store.ingest(land.id, transition_states=TransitionStateBatch(rng.uniform(2, 3, 60), rng.normal(size=(60, 12)), ids[a], ids[b]))
    k = int(np.argmin(energies))
    assert store.global_minimum(land.id) == (int(ids[k]), float(energies[k]))
    ktn = store.load_ktn(land.id)
    assert ktn.global_minimum() == (int(ids[k]), float(energies[k]))
    minimum_ids, labels = store.connected_components(land.id)
    reference = _union_find_labels(80, zip(a.tolist(), b.tolist()))
    position = {int(i): p for p, i in enumerate(ids)}
    for i, j in zip(range(80), rng.integers(0, 80, 80)):
        same_ref = reference[i] == reference[j]
        same = labels[np.searchsorted(minimum_ids, ids[i])] == labels[np.searchsorted(minimum_ids, ids[j])]
        assert same == same_ref
    assert len(set(labels.tolist())) == len(set(reference))
    mask = ktn.connected_to_global_minimum()
    assert mask.sum() == sum(1 for r in reference if r == reference[position[int(ids[k])]])


def test_connect_attempts_are_recorded(store, make_spec):
    rng = np.random.default_rng(5)
    land = store.get_or_create_landscape(make_spec())
    ids = store.ingest(land.id, minima=MinimaBatch(*random_minima(rng, 3))).minimum_ids
    store.record_connect_attempt(land.id, ids[0], ids[1], "failed", method="dneb", details={"images": 20})
    store.record_connect_attempt(land.id, ids[0], ids[2], "connected", n_ts_found=2, n_minima_found=1)
    attempts = store.connect_attempts(land.id)
    assert attempts.outcomes == ["failed", "connected"]
    assert attempts.min2_ids.tolist() == [ids[1], ids[2]] and attempts.n_ts_found.tolist() == [0, 2]
    with pytest.raises(DataError, match="outcome"):
        store.record_connect_attempt(land.id, ids[0], ids[1], "maybe")
    with pytest.raises(DataError, match="not in landscape"):
        store.record_connect_attempt(land.id, ids[0], 10**9, "failed")
    assert store.counts(land.id)["connect_attempts"] == 2


def test_metrics_upsert_and_the_views(store, make_spec):
    rng = np.random.default_rng(6)
    land = store.get_or_create_landscape(make_spec())
    energies, coords = random_minima(rng, 5)
    ids = store.ingest(land.id, minima=MinimaBatch(energies, coords)).minimum_ids
    store.ingest(land.id, transition_states=TransitionStateBatch([3.0, 3.1], rng.normal(size=(2, 12)), ids[[0, 0]], ids[[1, 2]]))
    auc = rng.uniform(size=5)
    store.write_metrics(ids, "test", "auc", auc)
    store.write_metrics(ids[:2], "test", "auc", [0.25, 0.75])  # replaces, does not duplicate
    store.write_metrics(ids, "train_incorrect", "auc", np.full(5, np.nan))  # undefined -> NULL
    got_ids, got = store.read_metrics(land.id, "test", "auc")
    expect = dict(zip(ids.tolist(), [0.25, 0.75, *auc[2:]]))
    assert [expect[i] for i in got_ids.tolist()] == got.tolist()
    assert np.isnan(store.read_metrics(land.id, "train_incorrect", "auc")[1]).all()
    with pytest.raises(DataError, match="split"):
        store.write_metrics(ids, "validation", "auc", auc)
    with store.engine.connect() as conn:
        summary = conn.execute(text("SELECT * FROM landscape_summary WHERE landscape_id = :i"), {"i": land.id}).mappings().one()
        rows = conn.execute(
            text("SELECT minimum_id, energy, n_transition_states, test_auc, train_incorrect_auc FROM minima_with_metrics ORDER BY minimum_id")
        ).all()
    k = int(np.argmin(energies))
    assert (summary["n_minima"], summary["n_transition_states"]) == (5, 2)
    assert summary["global_min_id"] == ids[k] and summary["global_min_energy"] == energies[k]
    by_id = {r[0]: r for r in rows}
    assert by_id[int(ids[0])][2] == 2 and by_id[int(ids[3])][2] == 0
    assert by_id[int(ids[0])][3] == 0.25 and by_id[int(ids[4])][4] is None


def test_the_example_queries_of_the_docs_run(store, make_spec):
    rng = np.random.default_rng(7)
    land = store.get_or_create_landscape(make_spec())
    ids = store.ingest(land.id, minima=MinimaBatch(*random_minima(rng, 20))).minimum_ids
    ts_ids = store.ingest(land.id, transition_states=TransitionStateBatch(
        rng.uniform(2, 3, 10), rng.normal(size=(10, 12)), ids[:10], ids[10:])).ts_ids.tolist()
    for split in ("train", "test"):
        store.write_metrics(ids, split, "auc", rng.uniform(size=20))
    store.write_minimum_kinetics(land.id, temperature=0.01, funnel_level=2.5, minimum_ids=ids,
                                 barriers=rng.uniform(size=20), occupations=np.full(20, 0.05),
                                 funnel_minimum_ids=np.full(20, ids[0]))
    store.record_round(land.id, stage="basin-hopping", step="run0_chunk0", n_tasks=20, cpu_seconds=1.5,
                       minimum_sightings=[(i, "basin-hopping") for i in ids.tolist()],
                       ts_sightings=[(i, "random-copy") for i in ts_ids + ts_ids[:3]])
    queries = [q.replace("D2_n1000_e10", land.name) for q in re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.S)]
    assert len(queries) >= 5
    with store.engine.connect() as conn:
        for query in queries:
            rows = conn.execute(text(query)).all()
            assert rows, query


def test_bad_batches_raise_one_error_and_write_nothing(store, make_spec):
    rng = np.random.default_rng(8)
    land = store.get_or_create_landscape(make_spec())
    energies, coords = random_minima(rng, 10)
    with pytest.raises(DataError, match=r"non-finite value \(nan\) in energies at row 3"):
        MinimaBatch(np.where(np.arange(10) == 3, np.nan, energies), coords)
    with pytest.raises(DataError, match="non-finite value in coordinates at row 2"):
        MinimaBatch(energies, np.where(np.arange(10)[:, None] == 2, np.inf, coords))
    with pytest.raises(DataError, match="coordinates have 11 values per row, landscape 'test_landscape' has n_dof = 12"):
        store.ingest(land.id, minima=MinimaBatch(energies, coords[:, :11]))
    with pytest.raises(DataError, match="shape"):
        MinimaBatch(energies, coords[:9])
    # new minima and a transition state naming a minimum that does not exist: all or nothing
    bad_ts = TransitionStateBatch([2.0], rng.normal(size=(1, 12)), min1=[1], min2=[10**9])
    with pytest.raises(DataError, match="minimum id 1000000000 is not in landscape"):
        store.ingest(land.id, minima=MinimaBatch(energies, coords), transition_states=bad_ts)
    with pytest.raises(DataError, match="refers to minima batch row 10"):
        store.ingest(
            land.id,
            minima=MinimaBatch(energies, coords),
            transition_states=TransitionStateBatch([2.0], rng.normal(size=(1, 12)), [0], [10], min_refs="rows"),
        )
    assert store.counts(land.id) == {"minima": 0, "transition_states": 0, "connect_attempts": 0}


def test_empty_landscape_reads(store, make_spec):
    land = store.get_or_create_landscape(make_spec())
    ktn = store.load_ktn(land.id)
    assert ktn.n_minima == 0 and ktn.global_minimum() is None
    assert store.connected_components(land.id)[1].size == 0
    result = store.ingest(land.id, minima=MinimaBatch(np.empty(0), np.empty((0, 12))))
    assert result.n_new_minima == 0


def test_nan_in_an_optional_property_is_stored_as_unknown(store, make_spec):
    rng = np.random.default_rng(9)
    land = store.get_or_create_landscape(make_spec())
    energies, coords = random_minima(rng, 3)
    log_prod = np.array([1.5, np.nan, -2.0])
    ids = store.ingest(land.id, minima=MinimaBatch(energies, coords, log_prod_pos_eig=log_prod)).minimum_ids
    table = store.point_table(land.id)
    stored = table["log_prod_pos_eig"][np.searchsorted(table["id"], ids)]
    assert stored[0] == 1.5 and np.isnan(stored[1]) and stored[2] == -2.0
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM minima WHERE log_prod_pos_eig IS NULL")).scalar() == 1
    with pytest.raises(DataError, match="non-finite value \\(inf\\) in rms_grad"):
        MinimaBatch(energies, coords, rms_grad=[1.0, np.inf, 1.0])
