"""Options shared by several commands (data root, database URL)."""

from __future__ import annotations

import os
from pathlib import Path

import click

DEFAULT_DATA_ROOT = Path(os.environ.get("DSA110_DATA_ROOT", "data"))

data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_ROOT,
    show_default=True,
    envvar="DSA110_DATA_ROOT",
    help="Root of the product tree.",
)
db_url_option = click.option(
    "--db-url",
    default=None,
    envvar="DSA110_DB_URL",
    help="Products database SQLAlchemy URL [default: SQLite under <data-root>/state].",
)
