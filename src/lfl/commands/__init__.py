"""Command groups of the `lfl` CLI; each module defines ``register(subparsers)``."""
