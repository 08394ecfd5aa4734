"""Read calibrator lists: the NRAO VLA calibrator list format, or our CSV.

The VLA calibrator list (https://science.nrao.edu/facilities/vla/observing/callist)
is plain text, one block per source::

    1331+305   J2000  A 13h31m08.287984s  30d30'32.958850"  Aug01  3C286
    1328+307   B1950  A 13h28m49.657700s  30d45'58.640000"
    -----------------------------------------------------
    BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
    =====================================================
     90cm    P  X S X X     26.00
     20cm    L  P P P P     15.00
      6cm    C  P P P P      7.47

The J2000 line gives the name, position and (last column) an alternative
name; the 20cm (L band) row gives the 1.4 GHz flux density. When the 6cm (C,
4.86 GHz) flux is listed too, the spectral index comes from the two;
otherwise the catalog default. A source without an L-band flux is read with
no flux: it can be ranked by nobody and modelled by nobody until a measured
flux is supplied (never a default flux).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import astropy.units as u
from astropy.coordinates import SkyCoord

from dsa110_resources.catalogs.calibrators import Calibrator, read_calibrator_csv
from dsa110_resources.catalogs.sky import DEFAULT_SPECTRAL_INDEX, REFERENCE_FREQUENCY

__all__ = ["read_calibrator_list", "read_vla_calibrator_list"]

_J2000 = re.compile(
    r"^\s*(?P<name>\S+)\s+J2000\s+\S\s+(?P<ra>\d+h\d+m[\d.]+s)\s+(?P<dec>[-+]?\d+d\d+'[\d.]+\")\s*(?P<rest>.*)$"
)
_BAND = re.compile(r"^\s*(?P<wave>[\d.]+c?m)\s+(?P<code>[A-Z]+)\s+(?:[A-Z?]\s+){4}(?P<flux>[\d.]+)")
C_BAND = 4.86 * u.GHz


def read_vla_calibrator_list(path: str | Path) -> dict[str, Calibrator]:
    """Calibrators of a VLA-format list, keyed by J2000 name (and alternative name)."""
    out: dict[str, Calibrator] = {}
    current: dict | None = None

    def finish() -> None:
        if current is None:
            return
        flux_l, flux_c = current["fluxes"].get("L"), current["fluxes"].get("C")
        alpha = DEFAULT_SPECTRAL_INDEX
        if flux_l and flux_c:
            alpha = math.log(flux_c / flux_l) / math.log((C_BAND / REFERENCE_FREQUENCY).to_value(u.one))
        cal = Calibrator(name=current["name"], coord=current["coord"],
                         flux=None if flux_l is None else flux_l * u.Jy, spectral_index=alpha,
                         variable=flux_l is None)
        out[cal.name] = cal
        if current["alt"] and current["alt"] not in out:
            out[current["alt"]] = cal

    for line in Path(path).read_text(errors="replace").splitlines():
        if m := _J2000.match(line):
            finish()
            rest = m.group("rest").split()
            alt = rest[-1] if len(rest) >= 2 else None
            coord = SkyCoord(m.group("ra"), m.group("dec").replace("d", "d").replace("'", "m").replace('"', "s"),
                             frame="icrs")
            current = {"name": m.group("name"), "coord": coord, "alt": alt, "fluxes": {}}
        elif current is not None and (b := _BAND.match(line)):
            current["fluxes"][b.group("code")[0]] = float(b.group("flux"))
    finish()
    if not out:
        raise ValueError(f"{path}: no J2000 calibrator entries found (not a VLA calibrator list?)")
    return out


def read_calibrator_list(path: str | Path) -> dict[str, Calibrator]:
    """A calibrator list in either format: our CSV (a header naming ra_deg) or VLA text."""
    path = Path(path)
    head = [ln for ln in path.read_text(errors="replace").splitlines()[:5] if ln.strip() and not ln.startswith("#")]
    if head and "," in head[0] and "ra_deg" in head[0].lower():
        return read_calibrator_csv(path)
    return read_vla_calibrator_list(path)
