"""Variability metrics (against direct per-source formulas) and light-curve tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsa110_resources.photometry.lightcurves import (
    from_matrix,
    read_lightcurves,
    source_light_curve,
    to_matrix,
    write_parquet,
)
from dsa110_resources.photometry.variability import two_epoch_metrics, variability_metrics


def _direct_metrics(s, e, floor):
    ok = np.isfinite(s) & np.isfinite(e)
    s, e = s[ok], e[ok]
    sig = np.sqrt(e**2 + (floor * np.median(s)) ** 2)
    w = 1 / sig**2
    mean_w = np.sum(w * s) / np.sum(w)
    eta = np.sum(w * (s - mean_w) ** 2) / (len(s) - 1)
    w0 = 1 / e**2
    m0 = np.sum(w0 * s) / np.sum(w0)
    chi2 = np.sum(w0 * (s - m0) ** 2) / (len(s) - 1)
    v = np.std(s, ddof=1) / np.mean(s)
    vs = [(s[i + 1] - s[i]) / np.hypot(sig[i], sig[i + 1]) for i in range(len(s) - 1)]
    m = [2 * (s[i + 1] - s[i]) / (s[i + 1] + s[i]) for i in range(len(s) - 1)]
    return eta, chi2, v, np.array(vs), np.array(m)


def test_metrics_match_per_source_formulas_with_gaps():
    rng = np.random.default_rng(1)
    flux = rng.normal(1.0, 0.05, (20, 30))
    err = rng.uniform(0.01, 0.03, flux.shape)
    flux[rng.random(flux.shape) < 0.2] = np.nan
    table = variability_metrics(flux, err, fractional_floor=0.02)
    vs_all, m_all = two_epoch_metrics(flux, err, fractional_floor=0.02)
    for i in range(len(flux)):
        eta, chi2, v, vs, m = _direct_metrics(flux[i], err[i], 0.02)
        row = table.iloc[i]
        assert row["eta"] == pytest.approx(eta, rel=1e-10)
        assert row["chi2_nu"] == pytest.approx(chi2, rel=1e-10)
        assert row["v"] == pytest.approx(v, rel=1e-10)
        np.testing.assert_allclose(vs_all[i][np.isfinite(vs_all[i])], vs, rtol=1e-10)
        np.testing.assert_allclose(m_all[i][np.isfinite(m_all[i])], m, rtol=1e-10)
        assert row["vs_last"] == pytest.approx(vs[-1])
        assert abs(row["vs_max"]) == pytest.approx(np.max(np.abs(vs)))


def test_two_epoch_flags_need_both_thresholds_and_only_consecutive_pairs():
    flux = np.array(
        [
            [1.0, 1.0, 1.0, 1.5, 1.5],  # a 40% step: |m| = 0.4, |Vs| large -> flagged once
            [1.0, 1.01, 1.0, 1.02, 1.0],  # steady
            [1.0, 1.1, 1.2, 1.3, 1.4],  # slow rise: all-pairs would flag (1.0 vs 1.4), consecutive not
        ]
    )
    err = np.full_like(flux, 0.01)
    table = variability_metrics(flux, err, fractional_floor=0.0)
    assert list(table["n_pairs_flagged"]) == [1, 0, 0]
    assert list(table["two_epoch_flag"]) == [True, False, False]
    assert table["m_at_vs_max"].iloc[0] == pytest.approx(0.4)


def test_fractional_floor_tames_eta_for_bright_sources():
    rng = np.random.default_rng(2)
    scale = 1 + 0.01 * rng.standard_normal(60)  # 1% residual flux-scale error
    flux = 1.0 * scale[None, :] + 0.001 * rng.standard_normal((200, 60))
    err = np.full_like(flux, 0.001)
    raw = variability_metrics(flux, err, fractional_floor=0.0)
    floored = variability_metrics(flux, err, fractional_floor=0.01)
    assert np.median(raw["eta"]) > 50
    assert np.median(floored["eta"]) < 1.5


def test_light_curve_tables_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    rows = [
        {"source_id": f"S{s}", "epoch_mjd": 60000.0 + e, "band": b, "flux_jy": rng.normal(1, 0.1), "flux_err_jy": 0.1}
        for s in range(4)
        for e in range(5)
        for b in ("full", "lo")
        if not (s == 2 and e == 3)
    ]
    table = pd.DataFrame(rows)
    write_parquet(table[table.band == "full"], tmp_path / "lc" / "day1.parquet")
    write_parquet(table[table.band == "lo"], tmp_path / "lc" / "day2.parquet")
    back = read_lightcurves(tmp_path / "lc")
    assert len(back) == len(table)
    matrix = to_matrix(back, band="full")
    assert matrix.shape == (4, 5)
    assert np.isnan(matrix.flux[2, 3])
    again = from_matrix(matrix)
    assert len(again) == 19
    with pytest.raises(ValueError, match="choose one"):
        to_matrix(back)
    with pytest.raises(ValueError, match="duplicate"):
        to_matrix(pd.concat([table, table]), band="full")
    one = source_light_curve(back, "S1")
    assert len(one) == 10 and list(one["band"]) == ["full"] * 5 + ["lo"] * 5
