"""downstream_sensor's decision: a long list of changed partitions is looked at in turns."""

import datetime as dt

from dsa110_sensors.downstream import HOURLY, PartitionState, decide

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_marked_partitions_are_looked_at_in_turns():
    changed = NOW.timestamp() - 3600
    marked = {f"{HOURLY.job}|2025-10-13T{h:02d}:00": changed for h in range(10)}
    seen = []

    def state_of(target, key):
        seen.append(key)
        return PartitionState(last_run_start=None, run_active=True, tiles_busy=False)  # all must wait

    first = decide(marked, state_of, NOW, limit=4)
    assert seen == [f"2025-10-13T{h:02d}:00" for h in range(4)] and first.marked == marked
    seen.clear()
    second = decide(first.marked, state_of, NOW, resume=first.resume, limit=4)
    assert seen == [f"2025-10-13T{h:02d}:00" for h in range(4, 8)]
    seen.clear()
    decide(second.marked, state_of, NOW, resume=second.resume, limit=4)
    assert seen == ["2025-10-13T08:00", "2025-10-13T09:00", "2025-10-13T00:00", "2025-10-13T01:00"]
