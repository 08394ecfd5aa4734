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
