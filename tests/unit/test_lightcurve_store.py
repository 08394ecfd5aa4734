"""Light curves in the products DB on PostgreSQL: the daily writes, a rerun, and the scientist's reads.

(SQLite runs the same path through the Dagster assets in test_daily_variability_asset.py.)
"""

import datetime as dt

import numpy as np
from sqlalchemy import func, insert, select

from dsa110_resources.db import FluxCorrection, ForcedPhotometry, ProductsDB, TransitFlux
from dsa110_resources.photometry.daily import analyse_drift_scan
from dsa110_resources.photometry.drift_simulation import DriftSurveySpec, simulate_drift_survey
from dsa110_resources.photometry.references import eligible_references
from dsa110_resources.photometry.store import (
    cone_search,
    mjd_of_day,
    read_measurements,
    read_transits,
    source_measurements,
    source_transits,
    stored_candidates,
    write_daily,
)


def test_daily_rows_and_reads_on_postgres(postgres_url):
    sim = simulate_drift_survey(DriftSurveySpec(n_sources=300, n_days=25, ra_range_deg=(150.0, 158.0),
                                                ese_fraction=0.05, ese_duration_days=(10.0, 12.0)), seed=2)
    db = ProductsDB(postgres_url)
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        s.execute(insert(ForcedPhotometry), [
            {"image_path": f"/images/{r.tile_id}.fits", "tile_id": r.tile_id, "source_id": r.source_id,
             "band": r.band, "epoch_mjd": r.epoch_mjd, "ra_deg": r.ra_deg, "dec_deg": r.dec_deg,
             "flux_jy": r.flux_jy, "flux_err_jy": r.flux_err_jy, "pb_gain": r.pb_gain, "blended": False,
             "edge": False, "created_at": now}
            for r in sim.measurements.itertuples()
        ])
    table = read_measurements(db)
    assert len(table) == len(sim.measurements)
    products = analyse_drift_scan(table, eligible_references(sim.catalog))
    last = int(np.floor(table["epoch_mjd"].max()))
    day = (dt.date(1858, 11, 17) + dt.timedelta(days=last)).isoformat()
    assert mjd_of_day(day) == last
    first = write_daily(db, day, products, table, threshold=5.5)
    again = write_daily(db, day, products, table, threshold=5.5)  # a rerun replaces the day's rows
    assert first == again and first["corrections"] > 0 and first["transits"] > 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(FluxCorrection)) == first["corrections"]
        assert s.scalar(select(func.count()).select_from(TransitFlux)) == first["transits"]
        normed = s.scalar(select(func.count()).select_from(ForcedPhotometry)
                          .where(ForcedPhotometry.norm_flux_jy.is_not(None)))
    assert normed == first["tiles_normalised"] > 0
    stored = read_transits(db, since_mjd=last - 1, until_mjd=last + 1)  # what the next runs search
    assert len(stored) == first["transits"] and set(stored["day_mjd"]) <= {last - 1, last}
    got_day, cands = stored_candidates(db)
    assert got_day == day and len(cands) == first["candidates"]
    top = cands["source_id"].iloc[0] if len(cands) else products.transits["source_id"].iloc[0]
    transits = source_transits(db, top)
    yesterday = (dt.date(1858, 11, 17) + dt.timedelta(days=last - 1)).isoformat()
    assert day in set(transits["day"]) and set(transits["day"]) <= {day, yesterday}
    tiles = source_measurements(db, [top])
    assert len(tiles) == (sim.measurements["source_id"] == top).sum()
    assert tiles["correction"].notna().any()  # joined to the day's per-tile corrections
    ra, dec = sim.catalog.set_index("source_id").loc[top, ["ra_deg", "dec_deg"]]
    near = cone_search(db, ra, dec, 30 / 3600)
    assert near["source_id"].iloc[0] == top and near["separation_arcsec"].iloc[0] < 0.01
