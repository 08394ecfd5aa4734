"""Named pause points, for killing a process at a chosen step in fault tests.

``pause_point("publish:swapped")`` does nothing unless the environment
variable ``DSA110_PAUSE_AT`` names that point: then the process writes its
PID to ``DSA110_PAUSE_FILE`` (if set) and sleeps until killed. A test starts
a real child process with the variable set, waits for the file and sends
SIGKILL, so the kill lands exactly between two steps of a publish or a
quarantine instead of at a random time. Cost when unset: one dict lookup.

Points (grep ``pause_point(`` for the list):
``convert:staged``     the MS is complete in staging, nothing published yet
``publish:copied``     copied next to the product as a hidden partial, not renamed
``publish:swapped``    the new product is in place, the old one not yet deleted
``quarantine:copied``  a file copied into quarantine as a hidden partial
``quarantine:linked``  a file linked into quarantine, still in incoming
"""

from __future__ import annotations

import os
import time

PAUSE_VARIABLE = "DSA110_PAUSE_AT"
PAUSE_FILE_VARIABLE = "DSA110_PAUSE_FILE"


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_VARIABLE) != name:
        return
    marker = os.environ.get(PAUSE_FILE_VARIABLE)
    if marker:
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
    while True:  # until the test kills this process
        time.sleep(3600)
