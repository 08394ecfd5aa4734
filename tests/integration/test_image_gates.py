"""The image gates against injected truth: a tile beside a bright calibrator passes, broken calibration fails.

The tiny array (6 antennas, 2 subbands: the demo's) next to 3C286, four
1.5-3 Jy sources in the field: the tile after the transit puts 3C286 1.2 deg
off centre on the beam's flank, where the old gate (10x thermal) failed it
with no calibration error at all. The same
tile with a bad gain solution (20 deg rms antenna phases) and with a flux
scale 25% high is imaged too; the noise gate must pass the first and fail the
second, the flux-scale check pass the first and fail the third.
"""

from __future__ import annotations

import shutil

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time

from dsa110_resources import constants as C

pytestmark = [pytest.mark.casa]

SUBBANDS = (0, 5, 10, 15)


@pytest.fixture(scope="module")
def beside_3c286(tmp_path_factory):
    from dsa110_resources.conversion import convert_to_path, find_tiles
    from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile

    from dsa110_resources.catalogs import SkyCatalog, calibrator_catalog
    from dsa110_resources.conversion.phasing import meridian_centre

    root = tmp_path_factory.mktemp("gates")
    start, dec = calibrator_transit_start("3C286", Time("2025-10-13T00:00:00"))
    start = start + C.TILE_DURATION
    centre = meridian_centre(start + C.TILE_DURATION / 2, dec)
    field = [centre.spherical_offsets_by(e * u.deg, n * u.deg) for e, n in ((0.3, 0.2), (-0.5, 0.4), (0.1, -0.6),
                                                                          (-0.4, -0.3))]
    sky = calibrator_catalog(["3C286"]).concatenate(SkyCatalog(
        np.array(["F1", "F2", "F3", "F4"], object), np.array([p.ra.deg for p in field]),
        np.array([p.dec.deg for p in field]), np.array([3.0, 2.0, 2.0, 1.5]), np.full(4, -0.7)))
    config = SimulationConfig.tiny(declination=dec, seed=1, n_active_antennas=24, subbands=SUBBANDS)
    truth = write_tile(root / "raw", start, config, sky=sky)
    ms = convert_to_path(find_tiles(root / "raw")[0], root / "tile.ms", fast_root=None).ms_path
    catalog = sky.write_csv(root / "sky.csv")
    assert len(truth.sources) == 5
    return ms, catalog, root


def _image_and_judge(ms, catalog, out):
    from dsa110_resources.catalogs import read_catalog
    from dsa110_resources.imaging import ImagingParams, ReferenceSources, make_image
    from dsa110_resources.imaging.noise_gate import bright_flux, expected_noise, flux_scale_problems, noise_problems
    from dsa110_resources.qa.thermal import thermal_figures
    from dsa110_resources.tileinfo import TileInfo

    sky = read_catalog(catalog)
    refs = ReferenceSources(sky.coords, sky.flux_jy * u.Jy, tuple(str(n) for n in sky.name))
    thermal = thermal_figures(ms)
    static, variable = bright_flux(TileInfo.read(ms), sky)
    # One band: the gate's constants were measured so, and the full-band noise of the four
    # jointly deconvolved sub-bands is the same (README, Performance); half the imager time.
    result = make_image(ms, out, ImagingParams(subband_images=1), "wsclean", references=refs,
                        expected_noise=thermal.noise, preview=False)
    expectation = expected_noise(thermal.noise, thermal.n_baselines, thermal.n_channels,
                                 static_flux=static, variable_flux=variable).as_dict()
    noise = noise_problems(result.qa.noise_jy, expectation)
    flux, what = flux_scale_problems(result.qa.recovery.as_dict())
    print(out.name, f"noise {result.qa.noise_jy * 1e3:.1f} mJy = {result.qa.noise_ratio:.1f}x thermal,",
          f"{result.qa.noise_jy / expectation['expected_jy']:.2f}x expected;", what)
    return result.qa, noise, flux


def _corrupt(ms, out, *, phase_rms_deg=0.0, scale=1.0):
    from casacore.tables import table

    from dsa110_resources.imaging.params import choose_data_column

    shutil.copytree(ms, out)
    column = choose_data_column(out)  # what the imager reads
    rng = np.random.default_rng(3)
    with table(str(out), readonly=False, ack=False) as t:
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        phase = np.deg2rad(rng.normal(0, phase_rms_deg, a1.max() + a2.max() + 2))
        data = t.getcol(column) * scale * np.exp(1j * (phase[a1] - phase[a2]))[:, None, None]
        t.putcol(column, data.astype(np.complex64))
    return out


def test_a_tile_beside_a_bright_calibrator_passes_and_broken_calibration_fails(beside_3c286):
    ms, catalog, root = beside_3c286
    qa, noise, flux = _image_and_judge(ms, catalog, root / "healthy")
    assert qa.noise_ratio > 10  # what the old gate (10x thermal) failed
    assert noise == [] and flux == []
    _, noise, _ = _image_and_judge(_corrupt(ms, root / "phases.ms", phase_rms_deg=20), catalog, root / "phases")
    assert noise and "expected" in noise[0]
    _, _, flux = _image_and_judge(_corrupt(ms, root / "scale.ms", scale=1.25), catalog, root / "scale")
    assert flux and "off by more than 10%" in flux[0]
