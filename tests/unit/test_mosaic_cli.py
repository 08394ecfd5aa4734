"""``dsa110 mosaic`` on synthetic tiles laid out as the imaging module writes them."""

from __future__ import annotations

import json

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from click.testing import CliRunner

from dsa110_resources.cli import main
from dsa110_resources.mosaic.grid import swept_ra
from dsa110_resources.mosaic.synthetic import drift_row
from dsa110_resources.photometry.forced import RestoringBeam

DEC = 54.57 * u.deg


def _tiles(root, n=3):
    start = Time("2025-10-13T13:00:05", scale="utc")
    ra0, _ = swept_ra(start, start + 1 * u.s, DEC)
    directory = root / "images" / "2025-10-13"
    directory.mkdir(parents=True)
    src = SkyCoord((ra0.value + np.array([0.5, 1.2, 2.0])) * u.deg, DEC + np.array([0.2, -0.3, 0.1]) * u.deg)
    return drift_row(directory, n, start, ra0, DEC, (200, 200), 60 * u.arcsec, src, [0.5, 0.3, 0.8] * u.Jy,
                     beam=RestoringBeam(200 * u.arcsec, 150 * u.arcsec, 0 * u.deg), noise=2e-3 * u.Jy, seed=1)


def test_cli_builds_mosaic_for_a_range(tmp_path):
    tiles = _tiles(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["mosaic", "--start", "2025-10-13T13:00", "--end", "2025-10-13T13:30",
                                       "--data-root", str(tmp_path), "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    block = summary["blocks"][0]
    assert block["tiles"] == [t.tile_id for t in tiles]
    assert summary["plan"]["missing"][0]["tiles"] >= 1  # 13:15-13:30 had no tiles
    header = fits.getheader(block["products"]["mosaic"])
    assert header["NINPUT"] == 3 and header["INPUT001"] == tiles[0].tile_id
    assert 0.8 < block["qa"]["noise_ratio"] < 1.25


def test_cli_long_range_makes_blocks_and_overview(tmp_path):
    _tiles(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["mosaic", "--start", "2025-10-13T12:00", "--end", "2025-10-13T16:00",
                                       "--data-root", str(tmp_path), "--output", str(out), "--cell", "120"])
    assert result.exit_code == 0, result.output
    assert (out / "overview.png").exists()
    made = sorted(p.name for p in out.glob("*.mosaic.fits"))
    assert made and all("_RA" in name for name in made)
    assert "no tile overlaps" in result.output  # blocks of the range that no tile reached


def test_cli_without_tiles_fails_cleanly(tmp_path):
    result = CliRunner().invoke(main, ["mosaic", "--start", "2025-10-13T13:00", "--end", "2025-10-13T14:00",
                                       "--data-root", str(tmp_path), "--output", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "no usable tile images" in result.output


def test_images_found_by_name_take_the_newest_version_and_skip_partials(tmp_path):
    """A reprocessed tile is <tile>.v<N>.image.fits beside (briefly) the old one; partials are hidden."""
    from astropy.time import Time

    from dsa110_resources.cli.mosaic import _find_images

    for name in ("2025-10-13T13:25:07.image.fits", "2025-10-13T13:25:07.v2.image.fits",
                 "2025-10-13T13:30:16.image.fits", ".partial-7-2025-10-13T13:35:25.image.fits",
                 "notes.image.fits"):
        (tmp_path / name).touch()
    found = _find_images([tmp_path], Time("2025-10-13T13:00:00"), Time("2025-10-13T14:00:00"))
    assert [(r.tile_id, r.image_path.name, r.pb_path.name) for r in found] == [
        ("2025-10-13T13:25:07", "2025-10-13T13:25:07.v2.image.fits", "2025-10-13T13:25:07.v2.pb.fits"),
        ("2025-10-13T13:30:16", "2025-10-13T13:30:16.image.fits", "2025-10-13T13:30:16.pb.fits"),
    ]
