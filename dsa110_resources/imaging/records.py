"""Publishing a tile image into the product tree and the products database.

``image_tile`` is the pipeline's step: image in a private staging directory
(tmpfs when it has room), publish each product atomically to
``images/YYYY-MM-DD/<tile>.<kind>.fits`` and the preview and QA JSON to
``qa/YYYY-MM-DD/``, then record one Image row per product with the measured
QA. Re-running a tile replaces its files and rows.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import astropy.units as u
from sqlalchemy import select

from dsa110_resources.stores import StorageTiers, layout

from .backends import ImageResult, make_image
from .params import ImagingParams

log = logging.getLogger(__name__)


def qa_document(result: ImageResult) -> dict:
    """The QA JSON stored with the image (DB ``qa`` column and qa/ file)."""
    return {
        "tile_id": result.observation.tile_id,
        "backend": result.backend,
        "data_column": result.data_column,
        "size": result.grid.size,
        "cell_arcsec": float(result.grid.cell.to_value(u.arcsec)),
        "imager_seconds": result.backend_seconds,
        "total_seconds": result.total_seconds,
        "preview": str(result.preview) if result.preview else None,
        **result.qa.as_dict(),
    }


def record_images(session, result: ImageResult, caltables=()) -> list:
    """Insert or replace one Image row per product of ``result``."""
    from dsa110_resources.db import Image

    qa = json.loads(json.dumps(qa_document(result), default=float))
    qa["caltables"] = [str(c) for c in caltables]
    rows = []
    for kind, path in result.products.items():
        row = session.scalars(select(Image).where(Image.path == str(path))).one_or_none() or Image(path=str(path))
        row.tile_id = result.observation.tile_id
        row.kind = kind
        row.backend = result.backend
        row.noise_jy = result.qa.noise_jy
        row.peak_jy = result.qa.peak_jy
        row.dynamic_range = result.qa.dynamic_range
        row.bmaj_arcsec = result.qa.bmaj_arcsec
        row.bmin_arcsec = result.qa.bmin_arcsec
        row.bpa_deg = result.qa.bpa_deg
        row.qa = qa
        row.is_valid = True
        session.add(row)
        rows.append(row)
    return rows


def image_tile(
    ms: str | Path,
    tiers: StorageTiers,
    tile_id: str,
    params: ImagingParams | None = None,
    backend: str | None = None,
    *,
    caltables=(),
    references=None,
    expected_noise=None,
    db=None,
    noise_model=None,
) -> ImageResult:
    """Image a tile into the product tree and (optionally) the products DB.

    ``noise_model``: called with the image's QA, returns the noise gate's
    expectation (:func:`.noise_gate.expected_noise`), stored with the QA.
    """
    ms = Path(ms)
    need = 6 * 4 * (params.size or 4096) ** 2 if params else 6 * 4 * 4096**2
    with tiers.staging(f"image-{tile_id}", need_bytes=need) as stage:
        result = make_image(ms, stage / tile_id, params, backend, tile_id=tile_id, caltables=caltables,
                            references=references, expected_noise=expected_noise, workdir=stage / "work")
        final = {}
        for kind, staged in result.products.items():
            final[kind] = tiers.publish(staged, layout.image_path(tile_id, kind))
        result.products = final
        if noise_model is not None:
            result.qa.noise_gate = noise_model(result.qa).as_dict()
        if result.preview is not None:
            result.preview = tiers.publish(result.preview, layout.qa_path(tile_id, "image.png"))
        qa_file = stage / "image_qa.json"
        qa_file.write_text(json.dumps(qa_document(result), indent=2, default=float))
        result.extras["qa_json"] = tiers.publish(qa_file, layout.qa_path(tile_id, "image_qa.json"))
    if db is not None:
        with db.session() as session:
            record_images(session, result, caltables)
    log.info("tile %s imaged with %s: noise %.3g Jy, DR %.0f", tile_id, result.backend,
             result.qa.noise_jy, result.qa.dynamic_range)
    return result
