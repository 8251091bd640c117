"""exploration_rounds on both backends: counts against a hand-made network, differences, idempotence,
and the saturation criterion on hand-made round records."""

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from lfl.db import LandscapeStore, MinimaBatch, TransitionStateBatch
from lfl.errors import DataError, LflError
from lfl.explore.saturation import SaturationCriterion


def side(energies, rng):
    return MinimaBatch(np.array(energies, dtype=float), rng.normal(size=(len(energies), 12)))


def test_round_records_count_the_network_by_hand(db_url, make_spec):
    rng = np.random.default_rng(4)
    with LandscapeStore(db_url, create=True) as store:
        land = store.get_or_create_landscape(make_spec())
        minima = side([0.0, 0.1, 0.2], rng)
        store.ingest(land.id, minima=minima)
        first = store.record_round(land.id, stage="basin-hopping", step="run0_chunk0", n_tasks=21, cpu_seconds=1.5)
        assert (first["n_minima"], first["n_new_minima"], first["n_transition_states"]) == (3, 3, 0)
        # transition states: 0-1 twice (two saddles, one connection), 1-2, and 2-2 (degenerate)
        a, b = minima.coords[[0, 0, 1, 2]], minima.coords[[1, 1, 2, 2]]
        ea, eb = minima.energies[[0, 0, 1, 2]], minima.energies[[1, 1, 2, 2]]
        ts = TransitionStateBatch(energies=np.array([1.0, 1.1, 1.2, 1.3]), coords=rng.normal(size=(4, 12)),
                                  min1=MinimaBatch(ea, a), min2=MinimaBatch(eb, b),
                                  neg_eigenvalue=-np.ones(4))
        store.ingest(land.id, transition_states=ts)
        row = store.record_round(land.id, stage="refine", step="round 0", round=0, n_tasks=4, cpu_seconds=2.0)
        assert (row["n_transition_states"], row["n_connections"], row["n_degenerate"]) == (4, 2, 1)
        assert (row["n_new_minima"], row["n_new_transition_states"], row["n_new_connections"],
                row["n_new_degenerate"]) == (0, 4, 2, 1)
        # the same step again (an ingest killed after its commit and rerun): the stored row, unchanged
        again = store.record_round(land.id, stage="refine", step="round 0", round=0, n_tasks=99, cpu_seconds=9.0)
        assert again == row
        quiet = store.record_round(land.id, stage="refine", step="round 1", round=1, cpu_seconds=1.0)
        assert quiet["n_new_transition_states"] == 0 and quiet["n_transition_states"] == 4
        store.set_saturated(land.id, stage="refine", step="round 1", saturated=True)
        rows = store.exploration_rounds(land.id, "refine")
        assert [r["step"] for r in rows] == ["round 0", "round 1"] and rows[1]["saturated"] is True
        with pytest.raises(DataError, match="stage must be one of"):
            store.record_round(land.id, stage="sideways", step="x")
    # the same numbers in SQL
    engine = create_engine(db_url)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT SUM(n_new_transition_states), SUM(cpu_seconds) FROM exploration_rounds")).one()
    engine.dispose()
    assert total == (4, 4.5)


def test_sightings_and_estimates_by_hand(db_url, make_spec):
    """Which search found which point how often, per step, and the estimates over the independent
    sightings: minima 0, 1, 2 drawn 3, 1 and 2 times by random-start quenches give n = 6, f1 = 1,
    f2 = 1: coverage 1 - 1/6 and Chao1 3 + (5/6) * 1 / 2; basin-hopping sightings do not count."""
    rng = np.random.default_rng(5)
    with LandscapeStore(db_url, create=True) as store:
        land = store.get_or_create_landscape(make_spec())
        ids = store.ingest(land.id, minima=side([0.0, 0.1, 0.2], rng)).minimum_ids.tolist()
        hop = store.record_round(land.id, stage="basin-hopping", step="run0_chunk0", effort="abc",
                                 minimum_sightings=[(ids[0], "basin-hopping")] * 5 + [(ids[1], "basin-hopping")])
        assert hop["n_minimum_draws"] == 0 and hop["minima_coverage"] is None and hop["effort"] == "abc"
        draws = [(ids[0], "random-start")] * 3 + [(ids[1], "random-start")] + [(ids[2], "random-start")] * 2
        row = store.record_round(land.id, stage="refine", step="round 0", round=0, minimum_sightings=draws)
        assert row["n_minimum_draws"] == 6
        assert row["minima_coverage"] == pytest.approx(1 - 1 / 6)
        assert row["minima_estimate"] == pytest.approx(3 + 5 / 12)
        assert row["minima_estimate_low"] >= 3 and row["minima_estimate_high"] > row["minima_estimate"]
        assert row["n_transition_state_draws"] == 0 and row["transition_states_coverage"] is None
        # the same step again records no sighting twice
        store.record_round(land.id, stage="refine", step="round 0", round=0, minimum_sightings=draws)
        assert sorted(store.sighting_abundances(land.id, "minimum")) == [1, 2, 3]
        assert sorted(store.sighting_abundances(land.id, "minimum", independent_only=False)) == [2, 2, 8]
        with pytest.raises(DataError, match="search must be one of"):
            store.record_round(land.id, stage="refine", step="round 1", round=1, minimum_sightings=[(ids[0], "guess")])
        assert [r["step"] for r in store.exploration_rounds(land.id)] == ["run0_chunk0", "round 0"]  # nothing written
    engine = create_engine(db_url)
    with engine.connect() as conn:
        by_search = conn.execute(text(
            "SELECT s.search, SUM(s.n), MIN(CASE WHEN s.independent THEN 1 ELSE 0 END) FROM minimum_sightings s "
            "GROUP BY s.search ORDER BY s.search")).all()
    engine.dispose()
    assert [tuple(r) for r in by_search] == [("basin-hopping", 6, 0), ("random-start", 6, 1)]


def rounds(*new, tasks=5, coverage=(0.99, 0.99), cpu=1.0):
    return [{"n_new_minima": m, "n_new_transition_states": t, "n_tasks": tasks, "cpu_seconds": cpu,
             "minima_coverage": coverage[0], "transition_states_coverage": coverage[1]} for m, t in new]


def test_saturation_criterion_on_hand_made_rounds():
    criterion = SaturationCriterion(coverage=0.95, rounds=2, max_new_points=2)
    assert not criterion.holds(rounds((0, 1)))  # one round is not two
    assert criterion.holds(rounds((3, 9), (0, 1), (1, 0)))
    assert not criterion.holds(rounds((0, 0), (1, 1)))  # 2 new points are not fewer than 2
    assert not criterion.holds(rounds((0, 0), (0, 0), coverage=(0.99, 0.94)))  # transition states not covered
    assert not criterion.holds(rounds((0, 0), (0, 0), coverage=(None, 0.99)))  # no draws of minima: unknown
    assert not criterion.holds(rounds((0, 0), (0, 0), tasks=0))  # quiet because nothing was tried


def test_stop_reasons_on_hand_made_rounds():
    from lfl.explore.saturation import stop_reason

    rule = SaturationCriterion(coverage=0.95, rounds=1, max_new_points=1)
    assert stop_reason([], rule, max_rounds=5, cpu_budget=None) is None
    assert stop_reason(rounds((0, 0)), rule, max_rounds=5, cpu_budget=None) == "saturated"
    busy = rounds((1, 3), (0, 2), cpu=10.0)
    assert stop_reason(busy, rule, max_rounds=5, cpu_budget=None) is None
    assert stop_reason(busy, rule, max_rounds=2, cpu_budget=None) == "max_rounds"
    assert stop_reason(busy, rule, max_rounds=5, cpu_budget=20.0) == "budget"  # 2 x 10 CPU s spent
    assert stop_reason(busy, rule, max_rounds=5, cpu_budget=20.5) is None
    # nothing planned is never saturation, however quiet and covered
    assert stop_reason(rounds((0, 0), tasks=0), rule, max_rounds=5, cpu_budget=None) == "exhausted"
    # saturation wins over a limit reached in the same round
    assert stop_reason(rounds((0, 0), cpu=99.0), rule, max_rounds=1, cpu_budget=1.0) == "saturated"


@pytest.mark.parametrize("criterion, max_rounds, message", [
    (SaturationCriterion(rounds=0), 5, "rounds': must be a whole number >= 1"),
    (SaturationCriterion(max_new_points=0), 5, "fewer than 0 new points can never hold"),
    (SaturationCriterion(rounds=3), 2, "3 quiet rounds can never hold within refine.max_rounds = 2"),
    (SaturationCriterion(coverage=1.2), 5, "coverage': must lie in"),
])
def test_a_criterion_that_can_never_hold_is_refused(criterion, max_rounds, message):
    with pytest.raises(LflError, match=message):
        criterion.validate(max_rounds)


def test_energy_only_and_degenerate_counts_by_hand(db_url, make_spec):
    from lfl.analysis.counts import distinct_energies
    from lfl.analysis.summary import read_landscape, summary_row

    # single linkage: 0, 5e-7, 1.2e-6 chain into one value; 3e-6 is another
    assert distinct_energies([3e-6, 0.0, 1.2e-6, 5e-7], 1e-6) == 2
    assert distinct_energies([], 1e-6) == 0
    rng = np.random.default_rng(5)
    with LandscapeStore(db_url, create=True) as store:
        land = store.get_or_create_landscape(make_spec())
        # four minima, two of them equal in energy (distinct weights: raw identity keeps both)
        minima = side([0.0, 0.1, 0.1 + 1e-8, 0.3], rng)
        store.ingest(land.id, minima=minima)
        pick1, pick2 = [0, 1, 2, 3, 3], [1, 2, 0, 3, 3]
        ts = TransitionStateBatch(energies=np.array([1.0, 1.0 + 2e-7, 1.5, 2.0, 2.5]), coords=rng.normal(size=(5, 12)),
                                  min1=MinimaBatch(minima.energies[pick1], minima.coords[pick1]),
                                  min2=MinimaBatch(minima.energies[pick2], minima.coords[pick2]),
                                  neg_eigenvalue=-np.ones(5))
        store.ingest(land.id, transition_states=ts)
        row = summary_row(read_landscape(store, land.spec.name), energy_only_tol=1e-6)
    assert (row["n_minima"], row["n_minima_energy_only"]) == (4, 3)
    assert (row["n_transition_states"], row["n_transition_states_energy_only"]) == (5, 4)
    assert (row["n_degenerate"], row["n_connections"]) == (2, 3)
    assert row["saturated"] is None and row["n_refine_rounds"] == 0
    engine = create_engine(db_url)
    with engine.connect() as conn:  # the same in SQL, as docs/database.md shows it
        degenerate = conn.execute(text("SELECT COUNT(*) FROM transition_states WHERE min1_id = min2_id")).scalar()
        per_minimum = conn.execute(text(
            "SELECT energy, n_transition_states, n_degenerate_transition_states FROM minima_with_metrics "
            "ORDER BY energy")).all()
    engine.dispose()
    assert degenerate == row["n_degenerate"]
    # by hand, per minimum (energies 0, 0.1, 0.1+1e-8, 0.3): 0-1 and 2-0; 0-1 and 1-2; 1-2 and 2-0; the two
    # degenerate 3-3, each one transition state (not two ends)
    assert [(n, d) for _, n, d in per_minimum] == [(2, 0), (2, 0), (2, 0), (2, 2)]


def test_discovery_curve_by_hand(tmp_path):
    from lfl.analysis.discovery import discovery_curve, plot_discovery_curves
    from lfl.analysis.plots import save_figure

    rows = [dict(stage="basin-hopping", cpu_seconds=2.0, n_minima=5, n_transition_states=0, saturated=None),
            dict(stage="connect", cpu_seconds=1.5, n_minima=7, n_transition_states=6, saturated=None),
            dict(stage="refine", cpu_seconds=0.5, n_minima=7, n_transition_states=9, saturated=False,
                 minima_estimate=8.0, minima_estimate_low=7.1, minima_estimate_high=15.0),
            dict(stage="refine", cpu_seconds=0.25, n_minima=7, n_transition_states=9, saturated=True,
                 minima_estimate=7.2, minima_estimate_low=7.0, minima_estimate_high=9.0)]
    curve = discovery_curve(rows)
    assert curve["cpu_seconds"].tolist() == [2.0, 3.5, 4.0, 4.25]
    assert curve["n_transition_states"].tolist() == [0, 6, 9, 9] and curve["saturated_at"] == 3
    np.testing.assert_array_equal(curve["minima_estimate"], [np.nan, np.nan, 8.0, 7.2])
    assert np.isnan(curve["transition_states_estimate_high"]).all()
    assert discovery_curve([])["saturated_at"] is None
    written = save_figure(plot_discovery_curves({"a": curve, "empty": discovery_curve([])}, title="t"),
                          tmp_path / "curve")
    assert all(path.stat().st_size > 1000 for path in written)
