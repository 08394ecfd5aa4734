"""CASA imports offline, runs in child processes, and fails one step cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dsa110_resources.casa import CasaTaskError, run_casa

pytestmark = pytest.mark.casa


def test_import_casatasks_in_a_fresh_home_stays_offline(tmp_path):
    """A new user (empty HOME, no ~/.casa) imports casatasks; nothing is fetched."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASA", "DSA110_CASA"))}
    env.update(HOME=str(home), DSA110_CASA_DIR=str(tmp_path / "casa"))
    code = (
        "import json, dsa110_resources, casatasks, casatools, casaconfig.config as c;"
        "print(json.dumps({'auto': [c.measures_auto_update, c.data_auto_update],"
        " 'measurespath': c.measurespath, 'logfile': c.logfile,"
        " 'version': casatools.version_string()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["auto"] == [False, False]
    assert "casadata" in info["measurespath"]
    assert info["logfile"].startswith(str(tmp_path / "casa"))
    assert info["version"].startswith("6.7.0")
    assert not (home / ".casa").exists()
    assert not list(tmp_path.glob("casa-*.log")), "CASA wrote a log into the working directory"
    assert "network" not in done.stderr.lower(), done.stderr


def test_child_process_opens_a_table(tmp_path):
    from casacore.tables import makescacoldesc, maketabdesc, table

    path = str(tmp_path / "small.tab")
    with table(path, maketabdesc([makescacoldesc("VALUE", 0.0)]), nrow=3, ack=False) as t:
        t.putcol("VALUE", np.array([1.5, 2.5, 3.5]))
    summary = run_casa("casa_targets:table_summary", path, workdir=tmp_path / "work")
    assert summary == {"nrows": 3, "columns": ["VALUE"], "values": [1.5, 2.5, 3.5]}


def test_measures_convert_with_packaged_data(tmp_path):
    """HADEC -> J2000 needs the IERS/geodetic tables from casadata."""
    result = run_casa("casa_targets:measures_frame", workdir=tmp_path)
    assert -np.pi <= result["ra_rad"] <= 2 * np.pi
    # Precession from date (2025) to J2000 moves the declination by < 0.2 deg.
    assert abs(np.degrees(result["dec_rad"]) - 54.57) < 0.2


def test_crash_fails_the_step_with_its_log(tmp_path):
    with pytest.raises(CasaTaskError, match="child process died"):
        run_casa("casa_targets:abort_process", workdir=tmp_path)


def test_exception_carries_the_casa_log_excerpt(tmp_path):
    with pytest.raises(CasaTaskError) as info:
        run_casa("casa_targets:raise_error", workdir=tmp_path)
    assert "deliberate failure" in str(info.value)
    assert "about to fail" in info.value.log_excerpt


def test_hung_step_is_killed_with_its_helpers_at_the_configured_limit(tmp_path, monkeypatch, process_gone):
    monkeypatch.setenv("DSA110_STEP_TIMEOUT", "3")  # no explicit timeout: the configured one
    pidfile = tmp_path / "helper.pid"
    with pytest.raises(CasaTaskError, match=r"casa_targets:hang_with_helper.*not finish within .* 3 s"):
        run_casa("casa_targets:hang_with_helper", str(pidfile), workdir=tmp_path / "work")
    assert process_gone(int(pidfile.read_text())), "the hung step's helper process outlived the kill"


def test_refreshed_measures_directory_silences_the_leap_second_warning(tmp_path, monkeypatch):
    """CASA reads TAI_UTC from DSA110_MEASURES_DIR; a fresh table there draws no SEVERE."""
    import datetime as dt
    import shutil

    from casacore.tables import table

    from dsa110_resources.casa.measures import packaged_measures_dir

    measures = tmp_path / "measures"
    shutil.copytree(packaged_measures_dir() / "geodetic", measures / "geodetic")
    (measures / "ephemerides").symlink_to(packaged_measures_dir() / "ephemerides")
    with table(str(measures / "geodetic" / "TAI_UTC"), readonly=False, ack=False) as t:
        t.putkeyword("VS_DATE", dt.datetime.now(dt.UTC).strftime("%Y/%m/%d/%H:%M"))
    monkeypatch.setenv("DSA110_CASA_DIR", str(tmp_path / "casa"))  # leave the shared site config alone
    monkeypatch.setenv("DSA110_MEASURES_DIR", str(measures))
    run_casa("casa_targets:utc_to_tai_now", workdir=tmp_path / "work")
    log = (tmp_path / "work" / "casa.log").read_text()
    assert "TAI_UTC seems out-of-date" not in log
    assert str(measures) in (tmp_path / "casa" / "casasiteconfig.py").read_text()


def test_configured_measures_directory_without_tables_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("DSA110_CASA_DIR", str(tmp_path / "casa"))
    monkeypatch.setenv("DSA110_MEASURES_DIR", str(tmp_path / "nothing-here"))
    with pytest.raises(CasaTaskError, match=r"DSA110_MEASURES_DIR: .*nothing-here has no geodetic/TAI_UTC"):
        run_casa("casa_targets:utc_to_tai_now", workdir=tmp_path / "work")
