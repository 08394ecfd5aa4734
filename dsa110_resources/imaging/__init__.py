"""Imaging: WSClean / tclean backends, the primary beam, FITS products, image QA.

    from dsa110_resources.imaging import make_image, ImagingParams
    result = make_image("2025-10-13T13:25:07.ms", "out/2025-10-13T13:25:07")
    print(result.qa.summary_lines())

Usable without Dagster; the image asset calls ``make_image`` and records
``result.qa`` with ``record_images``.
"""

from .backends import BACKENDS, ImageResult, default_backend, make_image
from .fits_products import PRODUCT_UNITS, product_path
from .msinfo import TileObservation
from .params import ImageGrid, ImagingParams, MsExtent, choose_data_column, choose_grid, primary_beam_fwhm
from .primary_beam import DriftScanBeam, airy_beam, airy_power, correct
from .records import image_tile, qa_document, record_images
from .qa import ImageQA, RecoveryStats, ReferenceSources, measure, robust_noise

__all__ = [
    "BACKENDS",
    "DriftScanBeam",
    "ImageGrid",
    "ImageQA",
    "ImageResult",
    "ImagingParams",
    "MsExtent",
    "PRODUCT_UNITS",
    "RecoveryStats",
    "ReferenceSources",
    "TileObservation",
    "airy_beam",
    "airy_power",
    "choose_data_column",
    "choose_grid",
    "correct",
    "default_backend",
    "make_image",
    "measure",
    "primary_beam_fwhm",
    "product_path",
    "image_tile",
    "qa_document",
    "record_images",
    "robust_noise",
]
