"""`dsa110 candidates` and `dsa110 lightcurve` on a simulated Parquet light-curve export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dsa110_resources.cli import main
from dsa110_resources.photometry.injection import SimulationSpec, simulate_light_curves
from dsa110_resources.photometry.lightcurves import LightCurveMatrix, from_matrix, write_parquet


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """Two bands, written as one Parquet file per day; the lower band's ESE dips twice as deep."""
    sim = simulate_light_curves(SimulationSpec(n_steady=300, n_ese=5, ese_depth=(0.25, 0.3)), seed=4)
    ids = sim.source_ids
    full = from_matrix(LightCurveMatrix(ids, sim.epoch_mjd, sim.flux, sim.err, "full"))
    lo_flux = sim.flux.copy()
    ese = sim.kind == "ese"
    lo_flux[ese] = sim.flux[ese] * (2 * sim.true_flux[ese] / sim.truth["mean_flux_jy"].to_numpy()[ese, None] - 1)
    lo = from_matrix(LightCurveMatrix(ids, sim.epoch_mjd, lo_flux, sim.err, "lo"))
    table = pd.concat([full, lo])
    root = tmp_path_factory.mktemp("lc")
    for mjd, day in table.groupby("epoch_mjd"):
        write_parquet(day, root / "photometry" / f"{int(mjd)}.parquet")
    return root, sim


def test_candidates_ranks_injected_events_and_plots_them(export):
    root, sim = export
    plots = root / "plots"
    result = CliRunner().invoke(
        main,
        ["candidates", "--lightcurves", str(root / "photometry"), "--plots", str(plots),
         "--output", str(root / "c.parquet")],
    )
    assert result.exit_code == 0, result.output
    ranked = pd.read_parquet(root / "c.parquet")
    injected = set(sim.truth.index[sim.kind == "ese"])
    assert set(ranked["source_id"]) == injected
    assert len(list(plots.glob("ese_*.png"))) == len(injected)
    # chromatic: the lower band dips deeper than the full band
    assert np.all(ranked["depth_lo"] > 1.5 * ranked["depth"])
    assert "ESE candidates" in result.output


def test_lightcurve_prints_and_plots(export):
    root, sim = export
    sid = sim.source_ids[0]
    png = root / "one.png"
    result = CliRunner().invoke(
        main,
        ["lightcurve", sid, "--lightcurves", str(root / "photometry"), "--normalise", "--plot", str(png)],
    )
    assert result.exit_code == 0, result.output
    assert f"source {sid}: " in result.output
    assert "norm_flux_mJy" in result.output
    assert png.stat().st_size > 1000
    missing = CliRunner().invoke(main, ["lightcurve", "NOPE", "--lightcurves", str(root / "photometry")])
    assert missing.exit_code != 0 and "no measurements" in missing.output
