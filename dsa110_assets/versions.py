"""Code versions of the pipeline's assets: what a product was made with.

Each versioned asset's ``code_version`` is ``<step version>-<hash>`` where the
hash covers the science parameters that shape its product, as this code
location binds them (the imaging resource's settings, the solve and flag
defaults, the validity windows). Change one of them, or bump a step version
when the step's code changes what it makes, and Dagster marks every
partition made with the old version stale (and the assets below it), so the
UI says which products a reprocess would change. Parameters set in one run's
config (e.g. ``imaging.allow_uncalibrated``) are per run and not part of it.

Data versions follow from these: Dagster hashes a partition's code version
with its inputs' data versions, except ``bandpass_solutions``, whose data
version is the registry's state of its tables (calibration.solutions_version).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from dagster import AssetsDefinition

#: Bump a step's version when its code changes what it makes.
STEP_VERSIONS = {
    "subband_group": "1",
    "measurement_set": "1",
    "bandpass_solutions": "1",
    "calibrated_ms": "1",
    "image": "1",
    "photometry": "1",
}


def _plain(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def step_parameters(resources: dict) -> dict[str, dict]:
    """The parameters each versioned step's product depends on, as plain data."""
    from dsa110_resources.calibration import FlagOptions, SolveOptions, ValidityPolicy

    imaging = resources.get("imaging")
    return {
        "bandpass_solutions": {"solve": _plain(SolveOptions()), "flag": _plain(FlagOptions())},
        "calibrated_ms": {"flag": _plain(FlagOptions()), "validity": _plain(ValidityPolicy()),
                          "gains": _plain(SolveOptions())},
        "image": {"params": _plain(imaging.params()), "backend": imaging.backend} if imaging is not None else {},
    }


def code_versions(resources: dict) -> dict[str, str]:
    parameters = step_parameters(resources)
    out = {}
    for name, step in STEP_VERSIONS.items():
        blob = json.dumps(parameters.get(name, {}), sort_keys=True, default=str)
        out[name] = f"{step}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"
    return out


def with_code_versions(assets, resources: dict) -> list:
    """``assets`` with each versioned asset's code version set from ``resources``."""
    versions = code_versions(resources)

    def versioned(spec):
        name = spec.key.to_user_string()
        return spec.replace_attributes(code_version=versions[name]) if name in versions else spec

    return [a.map_asset_specs(versioned) if isinstance(a, AssetsDefinition) else a for a in assets]
