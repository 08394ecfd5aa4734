"""The converter on files it did not write: the shared sample tile.

``shared/data/sample-tile-correlator-layout`` holds 16 subband files in the
DSA-110 correlator's own layout (extendable, auto-chunked 4-D datasets, legacy
``drift`` header, timestamps jittered), made by an independent simulator,
with its truth (sources, conventions, noise). The MS is checked against that
truth by the simplest second path there is: a linear least-squares fit of
each source's flux to the visibilities, with the source's fringe computed
from its catalogued J2000 position and the MS's own UVW and phase centre.
A converter that phased to the wrong centre, mirrored the sky or scrambled
channels, rows or polarisations loses the flux.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time
from casacore import tables as ct

from dsa110_resources import constants
from dsa110_resources.conversion import convert_to_path, find_tiles
from vis_fit import fit_fluxes, read_stokes_i, source_fringes

#: The project's shared reference data (never copied into the repository).
REFERENCE = Path(os.environ.get("DSA110_REFERENCE_DATA",
                                Path(__file__).resolve().parents[2].parent / "shared" / "data"))
SAMPLE = REFERENCE / "sample-tile-correlator-layout"

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"no sample tile at {SAMPLE} (DSA110_REFERENCE_DATA)")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    truth = json.loads(next(SAMPLE.glob("*_truth.json")).read_text())
    (group,) = find_tiles(SAMPLE)
    work = tmp_path_factory.mktemp("sample")
    result = convert_to_path(group, work / "sample.ms", fast_root=work / "fast")
    return truth, group, result


def test_sample_tile_read_as_chunks_and_grouped_whole(sample):
    truth, group, result = sample
    assert sorted(group.files) == truth["tile"]["subbands_written"] == list(range(16))
    assert result.read_paths == {"chunks": 48}  # the correlator's chunks, read directly
    assert result.missing_subbands == []
    with ct.table(str(result.ms_path), ack=False) as ms:
        times = np.unique(ms.getcol("TIME"))
    expected = Time(truth["tile"]["times_jd"], format="jd", scale="utc").mjd * 86400.0
    assert np.abs(times - expected).max() < 1e-3  # seconds


def test_sample_tile_phase_centre_is_the_mid_time_meridian(sample):
    truth, _, result = sample
    with ct.table(f"{result.ms_path}/FIELD", ack=False) as field:
        ra, dec = field.getcell("PHASE_DIR", 0)[0]
    expected = SkyCoord(*truth["pointing"]["mid_meridian_icrs_deg"], unit="deg")
    assert SkyCoord(ra * u.rad, dec * u.rad).separation(expected) < 1 * u.arcsec


def test_sample_tile_fluxes_come_back_from_the_visibilities(sample):
    truth, _, result = sample
    stokes_i, flags, uvw, freqs = read_stokes_i(result.ms_path)  # the truth's convention: XX = YY = I
    assert not flags.any()
    sources = truth["sources"]
    fringes = source_fringes(result.ms_path, [(s["ra_deg"], s["dec_deg"]) for s in sources], uvw, freqs)
    sigma = truth["noise"]["sigma_per_component_jy"] / np.sqrt(2)  # per Stokes I component

    whole = fit_fluxes(stokes_i, fringes)
    n_vis = stokes_i.size
    for s, got in zip(sources, whole):
        want = s["expected_stokes_I_image_flux_jy"]
        # noise of the fit ~ sigma / sqrt(n_vis) (~3 mJy); 2% for the beam's
        # change over the tile, which one flux per source averages over.
        assert got == pytest.approx(want, rel=0.02, abs=5 * sigma / np.sqrt(n_vis)), s["name"]

    # Per subband: the spectrum (and the channel order) survives conversion.
    per_sb = constants.CHANNELS_PER_SUBBAND
    for sb in range(constants.N_SUBBANDS):
        cols = slice(constants.N_CHANNELS - (sb + 1) * per_sb, constants.N_CHANNELS - sb * per_sb)
        got = fit_fluxes(stokes_i[:, cols], fringes[:, :, cols])
        noise = 5 * sigma / np.sqrt(stokes_i[:, cols].size)
        for s, value in zip(sources, got):
            want = s["mean_apparent_flux_per_subband_jy"][f"sb{sb:02d}"]
            assert value == pytest.approx(want, rel=0.03, abs=noise), (s["name"], sb)
