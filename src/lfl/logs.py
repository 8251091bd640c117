"""Logging set-up shared by every command: one format, to stderr (Snakemake redirects it to the log)."""

import logging
import re

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+):(?P<secret>[^@\s]+)@")


def mask_url(url: str) -> str:
    """Hide the password of a database URL: ``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``."""
    return _URL_PASSWORD.sub(r"\g<head>:***@", str(url))


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        force=True,
    )
