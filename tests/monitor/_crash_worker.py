"""Ingest one batch in a child process; ``DATACENTRIC_MONITOR_CRASH_AT`` makes it die inside
the open transaction (``os._exit``), like a killed process."""

from __future__ import annotations

import sys

from datacentric.monitor import Monitor
from tests.monitor._data import rows

if __name__ == "__main__":
    mon = Monitor(sys.argv[1])
    mon.ingest(rows(3000, seed=21), batch_id="crashy")
    sys.exit(0)
