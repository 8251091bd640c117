"""`lfl ingest ...`: the one writer. Reads job files and adds their stationary points to the database.

Idempotent: ingesting the same file twice adds nothing (deduplication against what is stored), and a
killed ingest leaves its whole batch out. The receipt file is written only after the commit.
"""

from __future__ import annotations

import argparse
import json
import logging

from lfl.commands.db import add_database_options, resolve_url

log = logging.getLogger(__name__)




def register(groups) -> None:
    parser = groups.add_parser("ingest", help="add job results to the landscape database (the one writer)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    minima = sub.add_parser("minima", help="basin-hopping chunk files -> minima")
    add_database_options(minima)
    minima.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    minima.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    minima.add_argument("--receipt", required=True, help="JSON receipt written after the commit")
    minima.add_argument("chunks", nargs="+", help="chunk files from `lfl explore basin-hopping`")
    minima.set_defaults(func=run_ingest_minima)


def run_ingest_minima(args: argparse.Namespace) -> int:
    import numpy as np

    from lfl.atomic import atomic_path
    from lfl.db.batches import MinimaBatch
    from lfl.db.store import LandscapeStore
    from lfl.explore.chunks import load_chunk
    from lfl.landscape import load_landscape
    from lfl.logs import mask_url

    landscape = load_landscape(args.landscape, args.draw)
    system = landscape.system()
    chunks = [load_chunk(path) for path in args.chunks]  # read (and validate) everything before writing
    batch = MinimaBatch(
        energies=np.concatenate([c.energies for c in chunks]),
        coords=np.concatenate([c.coords.reshape(-1, system.n_dof) for c in chunks]),
        rms_grad=np.concatenate([c.rms_gradient for c in chunks]),
        n_neg_eig=np.concatenate([c.n_negative for c in chunks]),
        log_prod_pos_eig=np.concatenate([c.log_prod_positive for c in chunks]),
        found_by="basin-hopping",
        source=", ".join(args.chunks),
    )
    url = resolve_url(args)
    with LandscapeStore(url, create=True) as store:
        record = store.get_or_create_landscape(landscape.database_spec())
        result = store.ingest(record.id, minima=batch, distance=system.distance)
        counts = store.counts(record.id)
    receipt = {
        "landscape": landscape.name,
        "landscape_id": record.id,
        "database": mask_url(url),
        "files": list(args.chunks),
        "n_minima_in_files": len(batch),
        "n_new_minima": result.n_new_minima,
        "counts_after": counts,
    }
    with atomic_path(args.receipt, suffix=".json") as tmp:
        tmp.write_text(json.dumps(receipt, indent=2) + "\n")
    log.info("%s: %d minima in %d file(s), %d new; the landscape now holds %s (%s)", landscape.name, len(batch),
             len(chunks), result.n_new_minima, counts, mask_url(url))
    return 0
