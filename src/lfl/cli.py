"""`lfl <group> <command>`: the command each Snakemake rule calls, usable on its own.

Each command group lives in :mod:`lfl.commands` (one module per group, each with ``register``).
Thread counts are applied before numpy or numba are imported, so ``--threads`` really limits a job.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from lfl.threads import set_thread_environment

COMMAND_GROUPS = ("data", "db", "explore", "connect", "refine", "ingest", "analyse")

log = logging.getLogger("lfl")


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_thread_count, default=None, help="cores this command may use (numba, BLAS)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def build_parser() -> argparse.ArgumentParser:
    from lfl import __version__

    parser = argparse.ArgumentParser(prog="lfl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lfl {__version__}")
    _global_options(parser)
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for name in COMMAND_GROUPS:
        importlib.import_module(f"lfl.commands.{name}").register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    _global_options(pre)
    early, _ = pre.parse_known_args(argv)
    if early.threads is not None:
        set_thread_environment(early.threads)

    from lfl.errors import LflError
    from lfl.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        if args.threads is not None:
            from lfl.threads import configure_threads

            configure_threads(args.threads)
        result = args.func(args)
    except LflError as exc:
        print(f"lfl: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`lfl db info | head -3`): end quietly, as a pipeline expects
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file that cannot be written or read: one line naming it
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"lfl: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lfl: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
