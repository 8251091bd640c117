"""`lfl db ...`: create, inspect, upgrade, export and import the landscape database.

The database URL comes from ``--db``, else the environment's ``LFL_DB_URL``, else ``--config``'s
``database.url``. Passwords are never printed.
"""

from __future__ import annotations

import argparse
import logging
import os

log = logging.getLogger(__name__)


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: LFL_DB_URL, then --config)")
    parser.add_argument("--config", metavar="FILE", help="config.yaml whose database.url to use")


def register(groups) -> None:
    parser = groups.add_parser("db", help="landscape database: init, info, upgrade, export, import")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser("init", help="create the schema (an existing database of this version is left as is)")
    add_database_options(init)
    init.set_defaults(func=run_init)

    info = sub.add_parser("info", help="schema version and landscapes with their counts")
    add_database_options(info)
    info.set_defaults(func=run_info)

    upgrade = sub.add_parser("upgrade", help="upgrade an older schema to this lfl's version; with a landscape, "
                                             "fill its missing log products from the stored coordinates")
    add_database_options(upgrade)
    upgrade.add_argument("--landscape-definition", metavar="JSON",
                         help="landscape definition whose points without a log product of positive Hessian "
                              "eigenvalues get one (computed from their stored coordinates)")
    upgrade.add_argument("--draw", metavar="NPZ", help="the landscape's draw (with --landscape-definition)")
    upgrade.add_argument("--dense-max", type=int, default=2000,
                         help="largest network (weights) whose Hessian is decomposed densely (default 2000)")
    upgrade.set_defaults(func=run_upgrade)

    export = sub.add_parser("export", help="write a landscape in PATHSAMPLE's format")
    add_database_options(export)
    export.add_argument("--landscape", required=True, help="landscape name")
    export.add_argument("--out", required=True, help="output directory")
    export.set_defaults(func=run_export)

    show = sub.add_parser("show", help="one minimum or transition state: energy, metrics, neighbours, weights")
    add_database_options(show)
    show.add_argument("kind", choices=["minimum", "ts"])
    show.add_argument("id", type=int, help="its id (minima.id or transition_states.id)")
    show.set_defaults(func=run_show)

    imp = sub.add_parser("import", help="read a PATHSAMPLE directory into a landscape (deduplicated)")
    add_database_options(imp)
    imp.add_argument("--landscape", required=True,
                     help="landscape name (created if new, from --landscape-definition or DIR/landscape.json)")
    imp.add_argument("--dir", required=True, help="directory with min.data, ts.data, points.min, points.ts")
    imp.add_argument("--landscape-definition", metavar="JSON",
                     help="the network and data of a plain PATHSAMPLE directory (no landscape.json): a landscape "
                          "definition; every energy is then checked against the network's loss")
    imp.add_argument("--draw", metavar="NPZ", help="the definition's draw (with --landscape-definition)")
    imp.set_defaults(func=run_import)


def landscape_option(args: argparse.Namespace, command: str):
    """The landscape of ``--landscape-definition JSON --draw NPZ`` (None when neither is given)."""
    from lfl.errors import ConfigError

    if bool(args.landscape_definition) != bool(args.draw):
        raise ConfigError(f"lfl db {command}: --landscape-definition and --draw go together (the draw rebuilds the loss)")
    if not args.landscape_definition:
        return None
    from lfl.landscape import load_landscape

    return load_landscape(args.landscape_definition, args.draw)


def resolve_url(args: argparse.Namespace) -> str:
    from lfl.errors import ConfigError

    if args.db:
        return args.db
    if os.environ.get("LFL_DB_URL"):
        return os.environ["LFL_DB_URL"]
    if args.config:
        from lfl.config import database_url, load_config

        return database_url(load_config(args.config))
    raise ConfigError("no database given: use --db URL, --config FILE or LFL_DB_URL")


def run_show(args: argparse.Namespace) -> int:
    from lfl.commands.show import format_point
    from lfl.db.store import LandscapeStore

    with LandscapeStore(resolve_url(args)) as store:
        details = store.describe_point(args.kind, args.id)
        record = store.landscape(int(details["row"]["landscape_id"]))
    print(format_point(args.kind, details, record.spec))
    return 0


def run_init(args: argparse.Namespace) -> int:
    from lfl.db.engine import SCHEMA_VERSION
    from lfl.db.store import LandscapeStore

    with LandscapeStore(resolve_url(args), create=True) as store:
        print(f"database {store.url}: lfl schema version {SCHEMA_VERSION}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from lfl.db.engine import SCHEMA_VERSION
    from lfl.db.store import LandscapeStore

    with LandscapeStore(resolve_url(args)) as store:
        landscapes = store.landscapes()
        print(f"database: {store.url} ({store.backend})")
        print(f"schema version: {SCHEMA_VERSION}")
        print(f"landscapes: {len(landscapes)}")
        if landscapes:
            header = ("id", "name", "dataset", "n_data", "error_pct", "symmetry", "n_dof", "minima", "ts", "attempts", "global_min")
            rows = [header]
            for land in landscapes:
                counts = store.counts(land.id)
                gmin = store.global_minimum(land.id)
                spec = land.spec
                rows.append(
                    (
                        str(land.id),
                        spec.name,
                        spec.dataset,
                        str(spec.n_data),
                        f"{spec.error_pct:g}",
                        spec.symmetry_mode,
                        str(spec.n_dof),
                        str(counts["minima"]),
                        str(counts["transition_states"]),
                        str(counts["connect_attempts"]),
                        "-" if gmin is None else f"{gmin[1]:.10g}",
                    )
                )
            widths = [max(len(r[k]) for r in rows) for k in range(len(header))]
            for row in rows:
                print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def run_upgrade(args: argparse.Namespace) -> int:
    from lfl.db.engine import make_engine, upgrade_schema
    from lfl.db.store import LandscapeStore

    landscape = landscape_option(args, "upgrade")  # read before anything is written: a bad file changes nothing
    url = resolve_url(args)
    engine = make_engine(url)
    try:
        old, new = upgrade_schema(engine)
    finally:
        engine.dispose()
    if old == new:
        print(f"database {engine.info_url}: already at schema version {new}")
    else:
        print(f"database {engine.info_url}: upgraded from schema version {old} to {new}")
    with LandscapeStore(url) as store:
        if landscape is not None:
            print(fill_log_products(store, landscape, dense_max=args.dense_max))
        else:
            missing = sum(store.ids_without_log_product(record.id, kind=kind).size
                          for record in store.landscapes() for kind in ("minima", "transition_states"))
            if missing:
                print(f"{missing} stationary points have no log product of positive Hessian eigenvalues (needed "
                      "for rates and occupations): `lfl db upgrade --landscape-definition JSON --draw NPZ` fills "
                      "a landscape's")
    return 0


def fill_log_products(store, landscape, *, dense_max: int) -> str:
    """Compute the missing log products of one landscape from its stored coordinates; one line saying
    what was filled."""
    import numpy as np

    from lfl.explore.eigenvector_following import hessian_index

    record = store.landscape(landscape.name)
    system = landscape.system()
    counts = []
    for kind in ("minima", "transition_states"):
        ids = store.ids_without_log_product(record.id, kind=kind)
        coords = store.coordinates(ids, kind=kind) if ids.size else np.empty((0, system.n_dof))
        values = np.array([hessian_index(system, x, dense_max=dense_max)[2] for x in coords])
        filled = store.set_log_products(record.id, kind=kind, ids=ids, values=values)
        counts.append(f"{filled} of {ids.size} {kind.replace('_', ' ')}")
    left = "" if system.n_dof <= dense_max else f" ({system.n_dof} weights > --dense-max {dense_max}: none computed)"
    return f"landscape '{landscape.name}': log products filled for {counts[0]} and {counts[1]} without one{left}"


def run_export(args: argparse.Namespace) -> int:
    from lfl.db.pathsample import export_pathsample
    from lfl.db.store import LandscapeStore

    with LandscapeStore(resolve_url(args)) as store:
        counts = export_pathsample(store, args.landscape, args.out)
    print(f"exported {counts['minima']} minima and {counts['transition_states']} transition states to {args.out}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from lfl.db.pathsample import import_pathsample
    from lfl.db.store import LandscapeStore

    options = {}
    landscape = landscape_option(args, "import")
    if landscape is not None:
        system = landscape.system()
        options = {"spec": landscape.database_spec(), "energy": system.energy, "distance": system.distance}
    with LandscapeStore(resolve_url(args)) as store:
        result = import_pathsample(store, args.landscape, args.dir, **options)
    print(
        f"imported into '{args.landscape}': {result.n_new_minima} new minima, "
        f"{result.n_new_transition_states} new transition states"
    )
    return 0
