"""What the operations commands share: the tiers and products DB as configured by environment."""

from __future__ import annotations

from pathlib import Path

import click

fast_root_option = click.option(
    "--fast-root", default="/dev/shm/dsa110", show_default=True, envvar="DSA110_FAST_ROOT",
    help="tmpfs staging directory ('' for none).")
stage_root_option = click.option(
    "--stage-root", default=None, envvar="DSA110_STAGE_ROOT",
    help="SSD staging directory [default: <data-root>/staging].")
incoming_option = click.option(
    "--incoming", type=click.Path(file_okay=False, path_type=Path), default=None, envvar="DSA110_INCOMING",
    help="Directory the correlator writes into [default: <data-root>/incoming].")


def tiers(data_root: Path, fast_root: str | None, stage_root: str | None):
    from dsa110_resources.stores import StorageTiers

    return StorageTiers(data_root=data_root, fast_root=fast_root or None, stage_root=stage_root or None)


def open_db(tiers, db_url: str | None):
    """The products DB at ``db_url``, else the SQLite file under the data root."""
    from dsa110_resources.db import ProductsDB
    from dsa110_resources.stores import layout

    if db_url:
        return ProductsDB(db_url)
    path = tiers.product_path(layout.products_db_file())
    if not path.exists():
        raise click.ClickException(f"no products database at {path} (set --data-root or DSA110_DB_URL)")
    return ProductsDB.sqlite(path)

