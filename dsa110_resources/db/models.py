"""The products database schema: every file, tile and product the pipeline makes.

This module is the schema's one home; Alembic migrations in ``migrations/``
move an existing database to it. Times are stored as naive UTC and come back
timezone-aware (UTC), whatever the backend.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC on disk."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: products DB times must be timezone-aware")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: Sizes, row counts and ids of fast-growing tables: 64-bit (a full tile's MS is
#: ~2.7 GB, past a 32-bit INTEGER). SQLite keeps INTEGER for ids: only an
#: INTEGER PRIMARY KEY autoincrements there, and it is 64-bit anyway.
BigID = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Tile(Base):
    """One ~309 s tile: a group of up to 16 subband files sharing a timestamp."""

    __tablename__ = "tiles"

    tile_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # earliest file timestamp
    group_time: Mapped[dt.datetime]
    partition_key: Mapped[str | None] = mapped_column(String(32), index=True)
    declination_deg: Mapped[float | None] = mapped_column(Float)
    n_subbands: Mapped[int] = mapped_column(Integer, default=0)
    missing_subbands: Mapped[str | None] = mapped_column(String(64))  # e.g. "3,7"
    # discovered | complete | semi_complete | converted | quarantined | too_few
    status: Mapped[str] = mapped_column(String(24), default="discovered", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    calibrator: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    files: Mapped[list[SubbandFile]] = relationship(back_populates="tile")
    measurement_sets: Mapped[list[MeasurementSet]] = relationship(back_populates="tile")


class SubbandFile(Base):
    """A raw UVH5 file as seen in incoming/, with what became of it."""

    __tablename__ = "subband_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    tile_id: Mapped[str | None] = mapped_column(ForeignKey("tiles.tile_id"), index=True)
    subband: Mapped[int]
    file_time: Mapped[dt.datetime]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # accepted | duplicate | late | invalid
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    error: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    tile: Mapped[Tile | None] = relationship(back_populates="files")


class MeasurementSet(Base):
    """A published Measurement Set (one per tile; re-runs replace the row)."""

    __tablename__ = "measurement_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tile_id: Mapped[str] = mapped_column(ForeignKey("tiles.tile_id"), index=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # science | calibrators | failed
    mid_time: Mapped[dt.datetime | None]
    ra_deg: Mapped[float | None] = mapped_column(Float)
    dec_deg: Mapped[float | None] = mapped_column(Float)
    n_rows: Mapped[int | None] = mapped_column(BigInteger)
    n_channels: Mapped[int | None] = mapped_column(Integer)
    flagged_fraction: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    tile: Mapped[Tile] = relationship(back_populates="measurement_sets")


class CalibrationTable(Base):
    """A solved caltable with the window of times it may be applied to."""

    __tablename__ = "calibration_tables"
    __table_args__ = (Index("ix_caltable_type_window", "caltype", "valid_from", "valid_to"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    caltype: Mapped[str] = mapped_column(String(8))  # K | B | G
    solved_for: Mapped[dt.datetime]  # mid-time of the data it was solved on
    valid_from: Mapped[dt.datetime]
    valid_to: Mapped[dt.datetime]
    source_tile_id: Mapped[str | None] = mapped_column(String(32))
    source_ms: Mapped[str | None] = mapped_column(String(1024))
    calibrator: Mapped[str | None] = mapped_column(String(64))
    refant: Mapped[str | None] = mapped_column(String(16))
    casa_version: Mapped[str | None] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any] | None]
    qa: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(16), default="valid")  # valid | rejected
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CalibrationApplication(Base):
    """Which caltables were applied to which Measurement Set."""

    __tablename__ = "calibration_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ms_path: Mapped[str] = mapped_column(String(1024), index=True)
    caltable_id: Mapped[int] = mapped_column(ForeignKey("calibration_tables.id"))
    applied_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    caltable: Mapped[CalibrationTable] = relationship()


class Image(Base):
    """A FITS image product with its measured QA figures."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tile_id: Mapped[str | None] = mapped_column(String(32), index=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # image | pbcor | residual | pb | model
    backend: Mapped[str | None] = mapped_column(String(16))  # wsclean | tclean
    noise_jy: Mapped[float | None] = mapped_column(Float)
    peak_jy: Mapped[float | None] = mapped_column(Float)
    dynamic_range: Mapped[float | None] = mapped_column(Float)
    bmaj_arcsec: Mapped[float | None] = mapped_column(Float)
    bmin_arcsec: Mapped[float | None] = mapped_column(Float)
    bpa_deg: Mapped[float | None] = mapped_column(Float)
    qa: Mapped[dict[str, Any] | None]
    is_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    # 1 for a tile's first imaging; each reprocess adds one (older ones: ImageHistory)
    version: Mapped[int] = mapped_column(Integer, default=1)
    code_version: Mapped[str | None] = mapped_column(String(64))  # the Dagster asset's code version
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImageHistory(Base):
    """An image product that a reprocess replaced: its record, kept (the file is gone)."""

    __tablename__ = "image_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tile_id: Mapped[str | None] = mapped_column(String(32), index=True)
    path: Mapped[str] = mapped_column(String(1024))  # where it was
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    code_version: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    backend: Mapped[str | None] = mapped_column(String(16))
    noise_jy: Mapped[float | None] = mapped_column(Float)
    peak_jy: Mapped[float | None] = mapped_column(Float)
    dynamic_range: Mapped[float | None] = mapped_column(Float)
    qa: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime]  # when the replaced product was made
    superseded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    superseded_by: Mapped[str | None] = mapped_column(String(1024))  # path of its replacement


class ForcedPhotometry(Base):
    """One forced flux measurement of a catalog source on one image (and band)."""

    __tablename__ = "forced_photometry"
    __table_args__ = (
        Index("ux_forced_image_source_band", "image_path", "source_id", "band", unique=True),
        Index("ix_forced_source_band_epoch", "source_id", "band", "epoch_mjd"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    image_path: Mapped[str] = mapped_column(String(1024))
    tile_id: Mapped[str | None] = mapped_column(String(32), index=True)
    source_id: Mapped[str] = mapped_column(String(64))
    band: Mapped[str] = mapped_column(String(16), default="full")
    freq_hz: Mapped[float | None] = mapped_column(Float)
    epoch_mjd: Mapped[float] = mapped_column(Float)
    ra_deg: Mapped[float] = mapped_column(Float)
    dec_deg: Mapped[float] = mapped_column(Float)
    flux_jy: Mapped[float] = mapped_column(Float)
    flux_err_jy: Mapped[float] = mapped_column(Float)
    local_rms_jy: Mapped[float | None] = mapped_column(Float)
    pb_gain: Mapped[float | None] = mapped_column(Float)
    snr: Mapped[float | None] = mapped_column(Float)
    blended: Mapped[bool] = mapped_column(Boolean, default=False)
    edge: Mapped[bool] = mapped_column(Boolean, default=False)
    norm_flux_jy: Mapped[float | None] = mapped_column(Float)
    norm_flux_err_jy: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FluxCorrection(Base):
    """Flux-scale correction of one tile (or epoch) and band, from the reference sources inside it.

    ``day`` is the UTC date of the tile (the daily partition that wrote it);
    chi2_nu is the references' scatter about the correction in units of their
    errors, ref_spread how widely they sample the field (1 = like all sources).
    """

    __tablename__ = "flux_corrections"
    __table_args__ = (Index("ux_flux_correction_epoch_band", "epoch_mjd", "band", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    tile_id: Mapped[str | None] = mapped_column(String(32), index=True)
    epoch_mjd: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16), default="full")
    correction: Mapped[float] = mapped_column(Float)
    correction_err: Mapped[float] = mapped_column(Float)
    n_references: Mapped[int] = mapped_column(Integer)
    chi2_nu: Mapped[float | None] = mapped_column(Float)
    ref_spread: Mapped[float | None] = mapped_column(Float)
    reference_ids: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TransitFlux(Base):
    """A source's normalised flux over one transit (its tiles of one day combined).

    The light curve the variability metrics and the ESE search use; the tile
    measurements behind it are the forced_photometry rows of that source and day.
    """

    __tablename__ = "transit_fluxes"
    __table_args__ = (Index("ux_transit_source_band_day", "source_id", "band", "day", unique=True),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64))
    band: Mapped[str] = mapped_column(String(16), default="full")
    day: Mapped[str] = mapped_column(String(10), index=True)  # UTC date of the transit
    epoch_mjd: Mapped[float] = mapped_column(Float)  # weighted mean epoch of its tiles
    flux_jy: Mapped[float] = mapped_column(Float)
    flux_err_jy: Mapped[float] = mapped_column(Float)
    n_tiles: Mapped[int] = mapped_column(Integer)
    chi2_nu: Mapped[float | None] = mapped_column(Float)  # tiles about their mean
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VariabilityMetric(Base):
    """Per-source variability statistics as of one day."""

    __tablename__ = "variability_metrics"
    __table_args__ = (Index("ux_variability_source_day_band", "source_id", "day", "band", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10), index=True)
    band: Mapped[str] = mapped_column(String(16), default="full")
    n_epochs: Mapped[int] = mapped_column(Integer)
    weighted_mean_jy: Mapped[float | None] = mapped_column(Float)
    eta: Mapped[float | None] = mapped_column(Float)
    chi2_nu: Mapped[float | None] = mapped_column(Float)
    v: Mapped[float | None] = mapped_column(Float)
    vs_max: Mapped[float | None] = mapped_column(Float)
    m_at_vs_max: Mapped[float | None] = mapped_column(Float)
    two_epoch_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ESECandidate(Base):
    """A source whose light curve matches the extreme-scattering-event shape."""

    __tablename__ = "ese_candidates"
    __table_args__ = (Index("ux_ese_source_day_band", "source_id", "day", "band", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10), index=True)
    band: Mapped[str] = mapped_column(String(16), default="full")
    rank: Mapped[int] = mapped_column(Integer)
    snr: Mapped[float] = mapped_column(Float)
    depth: Mapped[float | None] = mapped_column(Float)
    duration_days: Mapped[float | None] = mapped_column(Float)
    t0_mjd: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None]
    plot_path: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | confirmed | rejected
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Mosaic(Base):
    """An hourly or nightly mosaic product with the tiles that went in."""

    __tablename__ = "mosaics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # hourly | nightly
    partition_key: Mapped[str] = mapped_column(String(32), index=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime]
    n_tiles: Mapped[int] = mapped_column(Integer)
    tiles: Mapped[dict[str, Any] | None]  # included / excluded with reasons
    noise_jy: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    qa: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MasterCatalogVersion(Base):
    """One build of the master source catalog: its inputs, parameters and counts.

    Builds are never edited: a rebuild adds a version, and readers take the
    newest unless they ask for one (light curves keep the version they used).
    """

    __tablename__ = "master_catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    n_sources: Mapped[int] = mapped_column(Integer)
    n_reference: Mapped[int] = mapped_column(Integer)
    # {"nvss": {"path", "sha256", "bytes", "rows_read", "rows_kept", "columns", "freq_hz"}, ...}
    inputs: Mapped[dict[str, Any]]
    parameters: Mapped[dict[str, Any]]  # match radius, flag thresholds, code version
    note: Mapped[str | None] = mapped_column(Text)


class MasterSource(Base):
    """A source of the master catalog: NVSS position and flux, plus what VLASS/FIRST add.

    Flags for choosing flux references (plain booleans, one question each):
    ``compact`` positive evidence of being unresolved, ``resolved`` positive
    evidence of extent (neither when nothing measured a size), ``isolated``
    no other NVSS source within the isolation radius, ``confused`` a neighbour
    bright enough to bias a forced flux within the confusion radius,
    ``reference`` all of compact, isolated, not confused and bright enough.
    """

    __tablename__ = "master_sources"
    __table_args__ = (
        Index("ux_master_version_source", "version_id", "source_id", unique=True),
        Index("ix_master_version_dec_ra", "version_id", "dec_deg", "ra_deg"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("master_catalog_versions.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(64))
    ra_deg: Mapped[float] = mapped_column(Float)
    dec_deg: Mapped[float] = mapped_column(Float)
    ra_err_arcsec: Mapped[float | None] = mapped_column(Float)
    dec_err_arcsec: Mapped[float | None] = mapped_column(Float)
    flux_jy: Mapped[float] = mapped_column(Float)  # NVSS integrated, 1.4 GHz
    flux_err_jy: Mapped[float | None] = mapped_column(Float)
    major_arcsec: Mapped[float | None] = mapped_column(Float)  # NVSS deconvolved
    minor_arcsec: Mapped[float | None] = mapped_column(Float)
    pa_deg: Mapped[float | None] = mapped_column(Float)
    first_flux_jy: Mapped[float | None] = mapped_column(Float)  # sum of FIRST components in the radius
    first_n: Mapped[int] = mapped_column(Integer, default=0)
    vlass_flux_jy: Mapped[float | None] = mapped_column(Float)  # sum of VLASS components in the radius
    vlass_flux_err_jy: Mapped[float | None] = mapped_column(Float)
    vlass_n: Mapped[int] = mapped_column(Integer, default=0)
    alpha: Mapped[float | None] = mapped_column(Float)  # S ~ nu^alpha, NVSS 1.4 GHz to VLASS 3 GHz
    alpha_err: Mapped[float | None] = mapped_column(Float)
    nearest_arcsec: Mapped[float | None] = mapped_column(Float)  # nearest other NVSS source
    compact: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    isolated: Mapped[bool] = mapped_column(Boolean, default=False)
    confused: Mapped[bool] = mapped_column(Boolean, default=False)
    reference: Mapped[bool] = mapped_column(Boolean, default=False)


class NewSource(Base):
    """A source found blind in the survey with no master-catalog counterpart."""

    __tablename__ = "new_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    ra_deg: Mapped[float] = mapped_column(Float)  # error-weighted mean of its detections
    dec_deg: Mapped[float] = mapped_column(Float)
    ra_err_arcsec: Mapped[float] = mapped_column(Float)
    dec_err_arcsec: Mapped[float] = mapped_column(Float)
    first_seen_mjd: Mapped[float] = mapped_column(Float, index=True)
    first_image: Mapped[str] = mapped_column(String(1024))
    last_seen_mjd: Mapped[float] = mapped_column(Float)
    n_detections: Mapped[int] = mapped_column(Integer)
    max_snr: Mapped[float] = mapped_column(Float)
    peak_flux_jy: Mapped[float] = mapped_column(Float)  # brightest detection, beam-corrected
    # Peak flux of the first detection over the rms of the deepest earlier
    # image covering the position (VAST's "new high sigma"); null: no earlier image.
    new_sigma: Mapped[float | None] = mapped_column(Float)
    n_prior_images: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | confirmed | rejected
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SourceMeasurement(Base):
    """A blind detection on an image, or a forced flux where an expected source was not detected.

    Detections carry the finder's fit; forced rows (``forced``) the beam-weighted
    flux at the master-catalog (or new-source) position. ``master_source_id`` /
    ``new_source_id`` say which source a row belongs to (both null: unassociated,
    e.g. a mosaic detection outside the catalog's coverage).
    """

    __tablename__ = "source_measurements"
    __table_args__ = (
        Index("ix_measurement_image", "image_path"),
        Index("ix_measurement_master_epoch", "master_source_id", "epoch_mjd"),
        Index("ix_measurement_new_epoch", "new_source_id", "epoch_mjd"),
        Index("ix_measurement_epoch", "epoch_mjd"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    image_path: Mapped[str] = mapped_column(String(1024))
    image_kind: Mapped[str] = mapped_column(String(16))  # tile | hourly | nightly
    tile_id: Mapped[str | None] = mapped_column(String(32), index=True)
    epoch_mjd: Mapped[float] = mapped_column(Float)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    ra_deg: Mapped[float] = mapped_column(Float)
    dec_deg: Mapped[float] = mapped_column(Float)
    ra_err_arcsec: Mapped[float | None] = mapped_column(Float)
    dec_err_arcsec: Mapped[float | None] = mapped_column(Float)
    peak_jy: Mapped[float] = mapped_column(Float)  # beam-corrected (Jy/beam)
    peak_err_jy: Mapped[float] = mapped_column(Float)
    flux_jy: Mapped[float | None] = mapped_column(Float)  # integrated, beam-corrected; forced: = peak
    flux_err_jy: Mapped[float | None] = mapped_column(Float)
    major_arcsec: Mapped[float | None] = mapped_column(Float)
    minor_arcsec: Mapped[float | None] = mapped_column(Float)
    pa_deg: Mapped[float | None] = mapped_column(Float)
    local_rms_jy: Mapped[float] = mapped_column(Float)  # apparent (image-plane) rms
    snr: Mapped[float] = mapped_column(Float)  # apparent peak / local rms
    pb_gain: Mapped[float] = mapped_column(Float)
    master_source_id: Mapped[str | None] = mapped_column(String(64))
    master_version_id: Mapped[int | None] = mapped_column(Integer)
    new_source_id: Mapped[int | None] = mapped_column(ForeignKey("new_sources.id", ondelete="SET NULL"))
    separation_arcsec: Mapped[float | None] = mapped_column(Float)
    de_ruiter: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
