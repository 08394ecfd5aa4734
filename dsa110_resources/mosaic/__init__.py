"""Linear mosaics of tile images: hourly, nightly (RA blocks), or any time range.

    from dsa110_resources.mosaic import MosaicInput, build_mosaic, hourly_grid, write_products
    inputs = [MosaicInput.from_fits(p) for p in tile_image_paths]
    grid = hourly_grid(Time("2025-10-13T13:00"), 54.57 * u.deg, cell=3 * u.arcsec)
    products = build_mosaic(inputs, grid)
    write_products(products, "out/")

I = sum_p A_p I_p w_p / sum_p A_p^2 w_p over beam-uncorrected tiles I_p
convolved to a common restoring beam, with A_p the tile's drift-averaged
primary beam and w_p = 1/sigma_p^2; products are mosaic, weight (sum A^2 w)
and noise (1/sqrt(sum A^2 w)). Usable without Dagster.
"""

from .combine import MosaicOptions, MosaicProducts, TileContribution, build_mosaic
from .common_beam import common_beam, convolve_to, noise_scale
from .grid import MosaicGrid, beam_radius, blocks_for_range, grid_for_range, grid_for_region, hourly_grid, nightly_blocks
from .inputs import MosaicInput
from .plan import MosaicPlan, TileRecord, hourly_plan, nightly_plan, plan_mosaic
from .products import mosaic_relative_dir, publish_products, write_products

__all__ = [
    "MosaicGrid",
    "MosaicInput",
    "MosaicOptions",
    "MosaicPlan",
    "MosaicProducts",
    "TileContribution",
    "TileRecord",
    "beam_radius",
    "blocks_for_range",
    "build_mosaic",
    "common_beam",
    "convolve_to",
    "grid_for_range",
    "grid_for_region",
    "hourly_grid",
    "hourly_plan",
    "mosaic_relative_dir",
    "nightly_blocks",
    "nightly_plan",
    "noise_scale",
    "plan_mosaic",
    "publish_products",
    "write_products",
]
