"""Reads of the kinetic transition network for analysis: the network itself (:class:`~lfl.db.ktn.KTN`),
the global minimum, connected components, coordinates and whole point tables as numpy arrays
(straight from the driver's cursor, which numpy turns into arrays far faster than SQLAlchemy
rows). Part of :class:`~lfl.db.store.LandscapeStore` (a mixin).
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from lfl.db.ktn import KTN
from lfl.db.models import Minimum, MinimumCoords, TransitionState, TransitionStateCoords
from lfl.db.sql import chunks, fetch_tuples
from lfl.errors import LflError


class KTNReads:
    """The ktn reads methods of :class:`~lfl.db.store.LandscapeStore`."""

    def load_ktn(self, landscape_id: int) -> KTN:
        """Every minimum and transition state of a landscape as arrays, without coordinates."""
        with self._read() as conn:
            # no ORDER BY: numpy sorts faster than the database's temporary B-tree
            minima = fetch_tuples(conn, "SELECT id, energy, log_prod_pos_eig FROM minima WHERE landscape_id = ?",
                                  landscape_id)
            ts = fetch_tuples(
                conn, "SELECT id, energy, min1_id, min2_id, log_prod_pos_eig FROM transition_states WHERE landscape_id = ?",
                landscape_id,
            )
        m_dtype = [("id", "i8"), ("e", "f8"), ("lp", "f8")]  # a NULL log product becomes NaN
        m = np.array(minima, dtype=m_dtype) if minima else np.zeros(0, m_dtype)
        t_dtype = [("id", "i8"), ("e", "f8"), ("a", "i8"), ("b", "i8"), ("lp", "f8")]
        t = np.array(ts, dtype=t_dtype) if ts else np.zeros(0, t_dtype)
        m = m[np.argsort(m["id"], kind="stable")]
        t = t[np.argsort(t["id"], kind="stable")]
        return KTN(
            landscape_id=int(landscape_id),
            minimum_ids=m["id"].copy(),
            minimum_energies=m["e"].copy(),
            ts_ids=t["id"].copy(),
            ts_energies=t["e"].copy(),
            ts_min1=t["a"].copy(),
            ts_min2=t["b"].copy(),
            minimum_log_products=m["lp"].copy(),
            ts_log_products=t["lp"].copy(),
        )

    def global_minimum(self, landscape_id: int) -> tuple[int, float] | None:
        """(id, energy) of the lowest minimum (an index lookup); None for an empty landscape."""
        with self._read() as conn:
            row = conn.execute(
                select(Minimum.id, Minimum.energy)
                .where(Minimum.landscape_id == landscape_id)
                .order_by(Minimum.energy, Minimum.id)
                .limit(1)
            ).first()
        return None if row is None else (int(row[0]), float(row[1]))

    def connected_components(self, landscape_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(minimum ids, component label of each) over the transition states stored."""
        ktn = self.load_ktn(landscape_id)
        return ktn.minimum_ids, ktn.components()

    def coordinates(self, ids, *, kind: str = "minima") -> np.ndarray:
        """Coordinates (k, n_dof) of minima (``kind="minima"``) or transition states, in the order of ``ids``."""
        model = {"minima": MinimumCoords, "transition_states": TransitionStateCoords}[kind]
        key = model.minimum_id if kind == "minima" else model.ts_id
        ids = np.asarray(ids, dtype=np.int64).ravel()
        found: dict[int, bytes] = {}
        with self._read() as conn:
            for chunk in chunks(np.unique(ids)):
                for row in conn.execute(select(key, model.coords).where(key.in_(chunk.tolist()))):
                    found[int(row[0])] = row[1]
        missing = [i for i in ids.tolist() if i not in found]
        if missing:
            raise LflError(f"no {kind} with id {missing[0]} in database {self.url}")
        if ids.size == 0:
            return np.empty((0, 0))
        return np.frombuffer(b"".join(found[i] for i in ids.tolist()), dtype="<f8").reshape(ids.size, -1)

    def point_table(self, landscape_id: int, *, kind: str = "minima") -> dict[str, np.ndarray]:
        """Every column of the minima (or transition states) of a landscape, ordered by id, with
        coordinates (k, n_dof); NULL floats -> NaN, NULL integers -> -1."""
        model = {"minima": Minimum, "transition_states": TransitionState}[kind]
        coords_model = {"minima": MinimumCoords, "transition_states": TransitionStateCoords}[kind]
        coords_key = coords_model.minimum_id if kind == "minima" else coords_model.ts_id
        names = ["id", "energy", "log_prod_pos_eig", "point_group_order", "rms_grad"]
        names += ["n_neg_eig"] if kind == "minima" else ["min1_id", "min2_id", "neg_eigenvalue"]
        with self._read() as conn:
            rows = conn.execute(
                select(*[getattr(model, n) for n in names], coords_model.coords)
                .join(coords_model, coords_key == model.id)
                .where(model.landscape_id == landscape_id)
                .order_by(model.id)
            ).all()
        names.append("coords")
        n_dof = self.landscape(landscape_id).spec.n_dof
        table: dict[str, np.ndarray] = {}
        for k, name in enumerate(names):
            column = [r[k] for r in rows]
            if name == "coords":
                table[name] = np.frombuffer(b"".join(column), dtype="<f8").reshape(len(rows), n_dof)
            elif name in ("id", "point_group_order", "n_neg_eig", "min1_id", "min2_id"):
                table[name] = np.array([-1 if v is None else v for v in column], dtype=np.int64)
            else:
                table[name] = np.array([np.nan if v is None else v for v in column], dtype=np.float64)
        return table
