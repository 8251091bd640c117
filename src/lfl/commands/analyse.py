"""`lfl analyse ...`: metrics of the minima (a database writer), study tables and figures (readers).

- ``metrics``: score the minima of one landscape that have no metrics yet and store the rows;
- ``summary``: a study's landscape summary table, CSV and Markdown;
- ``graphs``: one landscape's disconnectivity graphs coloured by training and testing AUC;
- ``figures``: a study's panels of graphs and its AUC box plots;
- ``kinetics``: one landscape's rates, barriers, occupations and funnels at a temperature (a writer
  of ``minimum_kinetics``).
"""

from __future__ import annotations

import argparse
import json
import logging

from lfl.commands.db import add_database_options, resolve_url

log = logging.getLogger(__name__)


def _reference_class(text: str):
    return text if text == "macro" else int(text) if text.isdigit() else text


def _landscape_names(values: list[str], store) -> list[str]:
    """Names, or definition files (``.json``) whose name is used; every one must be in the database
    (a misspelt name is an error, not an empty figure)."""
    from lfl.errors import LflError
    from lfl.landscape import load_definition

    names = [load_definition(value)["name"] if value.endswith(".json") else value for value in values]
    known = {record.name for record in store.landscapes()}
    for name in names:
        if name not in known:
            listed = ", ".join(sorted(known)[:10]) + (" ..." if len(known) > 10 else "")
            raise LflError(f"landscape '{name}' is not in database {store.url} "
                           f"({'it holds: ' + listed if known else 'it holds no landscape'})")
    return names


def _plot_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--levels", type=int, default=40, help="energy levels of the disconnectivity graphs")
    parser.add_argument("--lowest-n", type=int, default=None, help="draw only the lowest N minima")
    parser.add_argument("--min-colour-span", type=float, default=0.01,
                        help="narrowest colour scale (AUC units): smaller spreads are not stretched (0: always stretch)")


def register(groups) -> None:
    parser = groups.add_parser("analyse", help="metrics of the minima, summary tables, figures")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    metrics = sub.add_parser("metrics", help="score the minima not scored yet (AUC, loss, ...) into the database")
    add_database_options(metrics)
    metrics.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    metrics.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    metrics.add_argument("--reference-class", type=_reference_class, default=0,
                         help="AUC reference class (a class number) or 'macro' (one-vs-rest mean); default 0")
    metrics.add_argument("--rescore", action="store_true", help="score every minimum again (after changing the reference class)")
    metrics.add_argument("--receipt", help="JSON receipt written after the commit")
    metrics.set_defaults(func=run_metrics)

    summary = sub.add_parser("summary", help="a study's landscape summary table (CSV and Markdown)")
    add_database_options(summary)
    summary.add_argument("--study", default="", help="study name (table title and first column)")
    summary.add_argument("--reference-class", type=_reference_class, default=None, help="named in the caption")
    summary.add_argument("--energy-only-tol", type=_positive_float, default=1e-6,
                         help="energies closer than this count as one point in the energy-only columns")
    summary.add_argument("--temperature", type=_positive_float, default=0.01,
                         help="temperature of the kinetic columns: global-minimum occupation, frustration (default 0.01)")
    summary.add_argument("--out-csv", required=True)
    summary.add_argument("--out-md", required=True)
    summary.add_argument("landscapes", nargs="+", help="landscape names or definition files, in table order")
    summary.set_defaults(func=run_summary)

    graphs = sub.add_parser("graphs", help="one landscape's disconnectivity graphs coloured by training and testing AUC")
    add_database_options(graphs)
    graphs.add_argument("--landscape", required=True, help="landscape name or definition file")
    graphs.add_argument("--out-dir", required=True, help="writes disconnectivity_{train,test}_auc.{png,svg} here")
    graphs.add_argument("--free-energy-temperature", type=_positive_float, default=None,
                        help="also draw free-energy disconnectivity graphs at this temperature "
                             "(free_energy_disconnectivity_{train,test}_auc.{png,svg})")
    graphs.add_argument("--regroup-threshold", type=_non_negative_float, default=None,
                        help="regroup minima while free-energy barriers between groups are below this "
                             "(default: the temperature, k_B T)")
    _plot_options(graphs)
    graphs.set_defaults(func=run_graphs)

    figures = sub.add_parser("figures", help="a study's panels of disconnectivity graphs and AUC box plots")
    add_database_options(figures)
    figures.add_argument("--study", required=True, help="study name (figure titles)")
    figures.add_argument("--out-dir", required=True,
                         help="writes disconnectivity_panel_{train,test}_auc and auc_boxplots (.png, .svg) here")
    _plot_options(figures)
    figures.add_argument("landscapes", nargs="+", help="landscape names or definition files, in panel order")
    figures.set_defaults(func=run_figures)

    kinetics = sub.add_parser("kinetics", help="rates of every transition state, rates between the global "
                                               "minimum's funnel and the rest (NGT), per-minimum barriers, "
                                               "occupations and funnels (into minimum_kinetics)")
    add_database_options(kinetics)
    kinetics.add_argument("--landscape", required=True, help="landscape name or definition file")
    kinetics.add_argument("--temperature", type=_positive_float, required=True,
                          help="fictitious temperature T (energy units of the loss, k_B = 1)")
    kinetics.add_argument("--funnel-level", type=float, default=None,
                          help="energy level that splits funnels (default: the level that splits the global "
                               "minimum's part of the network most evenly into its funnel and the rest)")
    kinetics.add_argument("--funnels", type=int, nargs=2, metavar=("MIN_A", "MIN_B"), default=None,
                          help="rates between the funnels of these two minima (ids) at the funnel level, instead "
                               "of the global minimum's funnel against the rest")
    kinetics.add_argument("--out-rates", help="CSV: every transition state's log10 rate constants both ways")
    kinetics.add_argument("--out-summary", help="JSON: rates and passage times between the funnels, occupations")
    kinetics.add_argument("--lenient", action="store_true",
                          help="a landscape with nothing to analyse (no transition state between two minima, "
                               "points without log products) gets its reason in --out-summary and an empty "
                               "--out-rates, exit 0 (the workflow's use), instead of an error")
    kinetics.set_defaults(func=run_kinetics)


def run_metrics(args: argparse.Namespace) -> int:
    from lfl.analysis.scoring import score_landscape
    from lfl.atomic import atomic_path
    from lfl.db.store import LandscapeStore
    from lfl.landscape import load_landscape
    from lfl.logs import mask_url

    landscape = load_landscape(args.landscape, args.draw)
    url = resolve_url(args)
    with LandscapeStore(url) as store:
        report = score_landscape(store, landscape, reference_class=args.reference_class, rescore=args.rescore)
    if args.receipt:
        receipt = dict(report.as_dict(), database=mask_url(url))
        with atomic_path(args.receipt, suffix=".json") as tmp:
            tmp.write_text(json.dumps(receipt, indent=2) + "\n")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def run_summary(args: argparse.Namespace) -> int:
    from lfl.analysis.summary import study_summary, write_tables
    from lfl.db.store import LandscapeStore

    with LandscapeStore(resolve_url(args)) as store:
        frame = study_summary(store, _landscape_names(args.landscapes, store), study=args.study,
                              energy_only_tol=args.energy_only_tol, temperature=args.temperature)
    write_tables(frame, csv_path=args.out_csv, md_path=args.out_md, study=args.study,
                 reference_class=args.reference_class)
    return 0


def run_graphs(args: argparse.Namespace) -> int:
    from lfl.analysis.figures import landscape_figures
    from lfl.db.store import LandscapeStore

    with LandscapeStore(resolve_url(args)) as store:
        name = _landscape_names([args.landscape], store)[0]
        landscape_figures(store, name, args.out_dir, levels=args.levels,
                          lowest_n=args.lowest_n, min_colour_span=args.min_colour_span)
        if args.free_energy_temperature is not None:
            from lfl.analysis.figures import free_energy_figures

            threshold = args.free_energy_temperature if args.regroup_threshold is None else args.regroup_threshold
            free_energy_figures(store, name, args.out_dir, temperature=args.free_energy_temperature,
                                threshold=threshold, levels=args.levels, min_colour_span=args.min_colour_span)
    return 0


def run_figures(args: argparse.Namespace) -> int:
    from lfl.analysis.figures import study_figures
    from lfl.db.store import LandscapeStore

    with LandscapeStore(resolve_url(args)) as store:
        study_figures(store, _landscape_names(args.landscapes, store), args.out_dir, study=args.study, levels=args.levels,
                      lowest_n=args.lowest_n, min_colour_span=args.min_colour_span)
    return 0


def run_kinetics(args: argparse.Namespace) -> int:
    from lfl.analysis.kinetics import landscape_kinetics
    from lfl.db.store import LandscapeStore
    from lfl.errors import DataError

    with LandscapeStore(resolve_url(args)) as store:
        name = _landscape_names([args.landscape], store)[0]
        try:
            result = landscape_kinetics(store, name, temperature=args.temperature, funnel_level=args.funnel_level,
                                        funnel_pair=None if args.funnels is None else tuple(args.funnels))
        except DataError as exc:
            if not args.lenient:
                raise
            log.warning("kinetics of %s skipped: %s", name, exc)
            _write_outputs(args, {"landscape": name, "temperature": args.temperature, "skipped": str(exc)}, None)
            return 0
        minima = result.minima
        store.write_minimum_kinetics(store.landscape(name).id, temperature=result.temperature,
                                     funnel_level=result.funnel_level, minimum_ids=minima["minimum_id"],
                                     barriers=minima["barrier_to_global"], occupations=minima["occupation"],
                                     funnel_minimum_ids=minima["funnel_minimum_id"])
    summary = result.summary()
    _write_outputs(args, summary, result.transition_states)
    which = "funnel of the global minimum" if args.funnels is None else f"funnel of minimum {args.funnels[0]}"
    rest = "rest" if args.funnels is None else f"funnel of minimum {args.funnels[1]}"
    print(f"{name} at T = {result.temperature:g}: global minimum occupation {summary['global_minimum_occupation']:.4g}; "
          f"{which} ({result.n_a} minima) -> {rest} ({result.n_b}): "
          f"k = 10^{summary['log10_rate_a_to_b']:.3f}, back 10^{summary['log10_rate_b_to_a']:.3f}")
    return 0


def _write_outputs(args: argparse.Namespace, summary: dict, rates) -> None:
    from lfl.atomic import atomic_path

    if args.out_rates:
        with atomic_path(args.out_rates, suffix=".csv") as tmp:
            if rates is None:
                tmp.write_text("ts_id,min1_id,min2_id,energy,log10_k_min1_to_min2,log10_k_min2_to_min1\n")
            else:
                rates.to_csv(tmp, index=False, float_format="%.10g")
    if args.out_summary:
        with atomic_path(args.out_summary, suffix=".json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
