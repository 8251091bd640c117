"""Metrics rows of a landscape's minima in the database: find the minima not scored yet, score, store.

Incremental: a minimum counts as scored when it holds a row for every ``(split, metric)``; only the
others are read (coordinates) and scored, so a landscape that grew over many runs costs only its new
minima. Each ``(split, metric)`` is written in one transaction, and a job killed between two of them
leaves minima that lack a row: the next run scores those again (writes replace).

The draw must be the one the landscape was built on: its content hash is checked against the
landscape's ``data_hash``, and the training loss of every scored minimum against its stored energy.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from lfl.analysis.metrics import ScoringData, check_reference_class, score_minima
from lfl.db.models import METRICS, SPLITS
from lfl.errors import DataError, LflError

log = logging.getLogger(__name__)

ENERGY_WARN_RTOL = 1e-8
_BATCH = 2000  # minima read and scored per batch: bounded memory on MNIST-size networks


@dataclass(frozen=True)
class ScoringReport:
    landscape: str
    landscape_id: int
    n_minima: int
    n_scored_before: int
    n_scored_now: int
    reference_class: int | str
    max_energy_deviation: float  # largest |training loss - stored energy| / max(1, |energy|)

    def as_dict(self) -> dict:
        return asdict(self)


def unscored_minima(store, landscape_id: int, all_ids: np.ndarray) -> np.ndarray:
    """The ids (ascending) of ``all_ids`` (the landscape's minima, ascending) lacking a metric row."""
    complete = all_ids
    for split in SPLITS:
        for metric in METRICS:
            ids, _ = store.read_metrics(landscape_id, split, metric)
            complete = np.intersect1d(complete, ids, assume_unique=True)
    return np.setdiff1d(all_ids, complete, assume_unique=True)


def score_landscape(store, landscape, *, reference_class: int | str = 0, rescore: bool = False) -> ScoringReport:
    """Score the landscape's minima that lack metrics (all of them with ``rescore``) and store the rows.

    ``landscape`` is a :class:`lfl.landscape.Landscape` (definition and draw); it must be in the
    database already (its minima ingested).
    """
    spec = landscape.database_spec()
    try:
        record = store.landscape(spec.name)
    except LflError:
        raise LflError(f"landscape '{spec.name}' is not in database {store.url}: ingest its minima first") from None
    if record.spec.data_hash != spec.data_hash:
        raise DataError(f"landscape '{spec.name}': the draw given is not the one the landscape was built on "
                        f"(data hash {spec.data_hash[:12]}, stored {record.spec.data_hash[:12]})")
    if record.spec.params_hash() != spec.params_hash():
        raise DataError(f"landscape '{spec.name}': the definition given differs from the stored landscape")
    data = ScoringData.from_draw(landscape.draw)
    reference_class = check_reference_class(reference_class, data.n_classes)
    network = landscape.network_spec()

    ktn = store.load_ktn(record.id)
    all_ids = ktn.minimum_ids
    todo = all_ids if rescore else unscored_minima(store, record.id, all_ids)
    n_before = int(all_ids.size - todo.size)
    deviation = 0.0
    for start in range(0, todo.size, _BATCH):
        ids = todo[start:start + _BATCH]
        weights = store.coordinates(ids)
        scores = score_minima(network, weights, data, reference_class=reference_class)
        stored = ktn.minimum_energies[ktn.index_of(ids)]
        deviation = max(deviation, float(np.max(np.abs(scores["train", "loss"] - stored) / np.maximum(1.0, np.abs(stored)))))
        for (split, metric), values in scores.items():
            store.write_metrics(ids, split, metric, values)
        log.info("%s: scored %d of %d new minima", spec.name, min(start + _BATCH, todo.size), todo.size)
    if deviation > ENERGY_WARN_RTOL:
        log.warning("%s: training loss differs from the stored energy by up to %.3g (relative): were these "
                    "minima computed with another loss?", spec.name, deviation)
    report = ScoringReport(spec.name, record.id, int(all_ids.size), n_before, int(todo.size), reference_class,
                           deviation)
    log.info("%s: %d minima, %d scored before, %d scored now (reference class %s)", spec.name, report.n_minima,
             report.n_scored_before, report.n_scored_now, reference_class)
    return report
