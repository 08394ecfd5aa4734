"""Module-level functions the CASA runner tests call in a child process."""

import os


def table_summary(path: str) -> dict:
    import casatools

    table = casatools.table()
    table.open(path)
    try:
        return {"nrows": table.nrows(), "columns": sorted(table.colnames()), "values": table.getcol("VALUE").tolist()}
    finally:
        table.close()


def measures_frame() -> dict:
    import casatools

    me = casatools.measures()
    me.doframe(me.observatory("OVRO_MMA"))
    me.doframe(me.epoch("utc", "60961.5d"))
    direction = me.measure(me.direction("HADEC", "0deg", "54.57deg"), "J2000")
    return {"ra_rad": direction["m0"]["value"], "dec_rad": direction["m1"]["value"]}


def abort_process() -> None:
    os.abort()


def raise_error() -> None:
    import casatasks

    casatasks.casalog.post("about to fail", "SEVERE")
    raise ValueError("deliberate failure")


def hang_with_helper(pidfile: str) -> None:
    """A step that hangs, with a helper process of its own (as CASA and WSClean start)."""
    import subprocess
    import time

    helper = subprocess.Popen(["sleep", "600"])
    with open(pidfile, "w") as f:
        f.write(str(helper.pid))
    time.sleep(600)


def utc_to_tai_now() -> float:
    """Convert the current UTC to TAI: casacore consults the leap-second table."""
    import casatools

    me = casatools.measures()
    return me.measure(me.epoch("utc", "today"), "tai")["m0"]["value"]
