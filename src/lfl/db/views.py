"""SQL views for people who query the database directly (portable SQL: SQLite and PostgreSQL).

- ``landscape_summary``: one row per landscape with its defining parameters, the numbers of minima,
  transition states and connection attempts, and the global minimum (id and energy).
- ``minima_with_metrics``: one row per minimum with its landscape name, energy, number of transition
  states touching it, and every metric of :mod:`lfl.db.models` (``train_auc``, ``test_loss``, ...) as a
  column (NULL where not computed yet).

The views are dropped and created again on every schema upgrade, so they always match the tables.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from lfl.db.models import METRICS, SPLITS

LANDSCAPE_SUMMARY = """
CREATE VIEW landscape_summary AS
SELECT
    l.id AS landscape_id,
    l.name,
    l.dataset,
    l.n_data,
    l.error_pct,
    l.draw_seed,
    l.architecture,
    l.l2_lambda,
    l.connectivity_k,
    l.symmetry_mode,
    (SELECT count(*) FROM minima m WHERE m.landscape_id = l.id) AS n_minima,
    (SELECT count(*) FROM transition_states t WHERE t.landscape_id = l.id) AS n_transition_states,
    (SELECT count(*) FROM connect_attempts a WHERE a.landscape_id = l.id) AS n_connect_attempts,
    (SELECT m.id FROM minima m WHERE m.landscape_id = l.id ORDER BY m.energy, m.id LIMIT 1)
        AS global_min_id,
    (SELECT min(m.energy) FROM minima m WHERE m.landscape_id = l.id) AS global_min_energy
FROM landscapes l
"""


def _minima_with_metrics() -> str:
    columns = ",\n    ".join(
        f"max(CASE WHEN k.split = '{split}' AND k.metric = '{metric}' THEN k.value END) AS {split}_{metric}"
        for split in SPLITS
        for metric in METRICS
    )
    return f"""
CREATE VIEW minima_with_metrics AS
SELECT
    m.id AS minimum_id,
    m.landscape_id,
    l.name AS landscape,
    m.energy,
    (SELECT count(*) FROM transition_states t WHERE t.min1_id = m.id OR t.min2_id = m.id)
        AS n_transition_states,
    (SELECT count(*) FROM transition_states t WHERE t.min1_id = m.id AND t.min2_id = m.id)
        AS n_degenerate_transition_states,
    {columns}
FROM minima m
JOIN landscapes l ON l.id = m.landscape_id
LEFT JOIN minimum_metrics k ON k.minimum_id = m.id
GROUP BY m.id, m.landscape_id, l.name, m.energy
"""


VIEWS = {"landscape_summary": LANDSCAPE_SUMMARY, "minima_with_metrics": _minima_with_metrics()}


def create_views(conn: Connection) -> None:
    for sql in VIEWS.values():
        conn.execute(text(sql))


def drop_views(conn: Connection) -> None:
    for name in VIEWS:
        conn.execute(text(f"DROP VIEW IF EXISTS {name}"))
