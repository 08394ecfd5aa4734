"""Publishing a tile image into the product tree and the products database.

``image_tile`` is the pipeline's step: image in a private staging directory
(tmpfs when it has room), publish each product atomically to
``images/YYYY-MM-DD/<tile>.<kind>.fits`` and the preview and QA JSON to
``qa/YYYY-MM-DD/``, then record one Image row per product with the measured
QA.

Re-imaging a tile recorded in the database (a reprocess) publishes the new
products beside the old ones (``<tile>.v<N>.<kind>.fits``), then switches the
tile's rows in one transaction: readers, who find images through the
database, see the old set or the new set, never a mixture or a half-written
file. The old rows move to ``image_history`` (their QA, code version and run
kept) and the old files are deleted.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import astropy.units as u
from sqlalchemy import func, select

from dsa110_resources.stores import StorageTiers, layout
from dsa110_resources.stores.tiers import remove_path

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


def next_version(db, tile_id: str) -> int:
    """The version a new imaging of ``tile_id`` gets: one past any recorded (current or replaced)."""
    from dsa110_resources.db import Image, ImageHistory

    if db is None:
        return 1
    with db.session() as s:
        current = s.scalar(select(func.max(Image.version)).where(Image.tile_id == tile_id)) or 0
        replaced = s.scalar(select(func.max(ImageHistory.version)).where(ImageHistory.tile_id == tile_id)) or 0
    return max(current, replaced) + 1


def record_images(session, result: ImageResult, caltables=(), *, version: int = 1,
                  code_version: str | None = None, run_id: str | None = None) -> list[str]:
    """Make ``result``'s products the tile's current Image rows; returns the paths they replaced.

    The tile's earlier rows are moved to ``image_history`` in the same
    transaction (a row at one of the new paths is simply replaced).
    """
    from dsa110_resources.db import Image, ImageHistory

    tile_id = result.observation.tile_id
    qa = json.loads(json.dumps(qa_document(result), default=float))
    qa["caltables"] = [str(c) for c in caltables]
    new_paths = {kind: str(path) for kind, path in result.products.items()}
    replaced = []
    for old in session.scalars(select(Image).where(Image.tile_id == tile_id)).all():
        if old.path not in new_paths.values():
            session.add(ImageHistory(
                tile_id=old.tile_id, path=old.path, kind=old.kind, version=old.version,
                code_version=old.code_version, run_id=old.run_id, backend=old.backend, noise_jy=old.noise_jy,
                peak_jy=old.peak_jy, dynamic_range=old.dynamic_range, qa=old.qa, created_at=old.created_at,
                superseded_by=new_paths.get(old.kind),
            ))
            replaced.append(old.path)
        session.delete(old)
    session.flush()
    for kind, path in new_paths.items():
        session.add(Image(
            path=path, tile_id=tile_id, kind=kind, backend=result.backend, noise_jy=result.qa.noise_jy,
            peak_jy=result.qa.peak_jy, dynamic_range=result.qa.dynamic_range,
            bmaj_arcsec=result.qa.bmaj_arcsec, bmin_arcsec=result.qa.bmin_arcsec, bpa_deg=result.qa.bpa_deg,
            qa=qa, is_valid=True, version=version, code_version=code_version, run_id=run_id,
        ))
    return replaced


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
    code_version: str | None = None,
    run_id: str | None = None,
) -> ImageResult:
    """Image a tile into the product tree and (optionally) the products DB.

    With ``db``, a tile imaged before gets its next version (module docstring);
    ``code_version`` and ``run_id`` say what made it (kept in its history).
    ``noise_model``: called with the image's QA, returns the noise gate's
    expectation (:func:`.noise_gate.expected_noise`), stored with the QA.
    """
    ms = Path(ms)
    version = next_version(db, tile_id)
    need = 6 * 4 * (params.size or 4096) ** 2 if params else 6 * 4 * 4096**2
    with tiers.staging(f"image-{tile_id}", need_bytes=need) as stage:
        result = make_image(ms, stage / tile_id, params, backend, tile_id=tile_id, caltables=caltables,
                            references=references, expected_noise=expected_noise, workdir=stage / "work")
        final = {}
        for kind, staged in result.products.items():
            final[kind] = tiers.publish(staged, layout.image_path(tile_id, kind, version))
        result.products = final
        result.extras["version"] = version
        if noise_model is not None:
            result.qa.noise_gate = noise_model(result.qa).as_dict()
        if result.preview is not None:
            result.preview = tiers.publish(result.preview, layout.qa_path(tile_id, "image.png"))
        qa_file = stage / "image_qa.json"
        qa_file.write_text(json.dumps(qa_document(result), indent=2, default=float))
        result.extras["qa_json"] = tiers.publish(qa_file, layout.qa_path(tile_id, "image_qa.json"))
    if db is not None:
        with db.session() as session:
            replaced = record_images(session, result, caltables, version=version, code_version=code_version,
                                     run_id=run_id)
        for path in replaced:  # after the switch: no reader is sent to them any more
            remove_path(tiers.product_path(Path(path).relative_to(tiers.data_root)))
    log.info("tile %s imaged with %s: noise %.3g Jy, DR %.0f", tile_id, result.backend,
             result.qa.noise_jy, result.qa.dynamic_range)
    return result
