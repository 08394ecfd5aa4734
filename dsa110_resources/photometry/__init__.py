"""Forced photometry, normalised light curves, variability metrics and ESE search.

Plain science code (numpy/pandas/astropy), usable in a notebook without Dagster:

- :mod:`.forced`: beam-weighted forced fluxes on FITS images, honest errors.
- :mod:`.lightcurves`: long tables <-> (sources x epochs) arrays, Parquet export.
- :mod:`.normalisation`: per-epoch flux-scale corrections from stable references
  (one measurement per source per epoch, e.g. daily mosaics).
- :mod:`.tile_normalisation`: per-tile corrections for drift-scan sampling, from the
  references inside each tile; :mod:`.references`: the catalog's part of choosing them;
  :mod:`.transits`: per-transit (daily) light curves from the tiles.
- :mod:`.variability`: eta, V, chi2_nu, two-epoch Vs and m.
- :mod:`.ese`: matched-filter ESE search and injection-calibrated thresholds.
- :mod:`.daily`: the daily chains on a long table; :mod:`.plots`: PNGs;
  :mod:`.store`: light curves in the products DB; :mod:`.cutouts`: FITS stamps.
- :mod:`.injection`: catalog-level simulations for tests and calibration;
  :mod:`.drift_simulation`: measurements sampled as the drift-scan array samples.
"""

from dsa110_resources.photometry.daily import (
    DailyProducts,
    DriftScanProducts,
    analyse_drift_scan,
    analyse_light_curves,
    normalised_table,
)
from dsa110_resources.photometry.ese import (
    DEFAULT_SNR_THRESHOLD,
    calibrate_threshold,
    ese_candidates,
    measure_dip,
    search_ese,
)
from dsa110_resources.photometry.forced import (
    ForcedPhotometryOptions,
    RestoringBeam,
    forced_photometry,
    forced_photometry_bands,
    forced_photometry_image,
)
from dsa110_resources.photometry.lightcurves import (
    LightCurveMatrix,
    from_matrix,
    read_lightcurves,
    to_matrix,
    write_parquet,
)
from dsa110_resources.photometry.normalisation import Normalisation, ReferenceCriteria, normalise
from dsa110_resources.photometry.references import eligible_references
from dsa110_resources.photometry.tile_normalisation import TileCriteria, TileNormalisation, normalise_tiles
from dsa110_resources.photometry.transits import aggregate_transits
from dsa110_resources.photometry.variability import two_epoch_metrics, variability_metrics

__all__ = [
    "DEFAULT_SNR_THRESHOLD",
    "DailyProducts",
    "DriftScanProducts",
    "ForcedPhotometryOptions",
    "LightCurveMatrix",
    "Normalisation",
    "ReferenceCriteria",
    "RestoringBeam",
    "TileCriteria",
    "TileNormalisation",
    "aggregate_transits",
    "analyse_drift_scan",
    "analyse_light_curves",
    "calibrate_threshold",
    "eligible_references",
    "ese_candidates",
    "forced_photometry",
    "forced_photometry_bands",
    "forced_photometry_image",
    "from_matrix",
    "measure_dip",
    "normalise",
    "normalise_tiles",
    "normalised_table",
    "read_lightcurves",
    "search_ese",
    "to_matrix",
    "two_epoch_metrics",
    "variability_metrics",
    "write_parquet",
]
