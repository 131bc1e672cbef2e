"""Background threads yield the CPU to request handling."""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 19
"""How much lower than the process a background thread (refitter, job worker) runs."""


def run_in_background_priority(niceness: int = BACKGROUND_NICENESS) -> bool:
    """Lower the calling thread's scheduling priority (Linux: threads have their own).

    The server's refitter and job workers share the cores with the requests a
    person is waiting on; at a lower priority they take what the requests leave.
    Elsewhere (no per-thread priority) this does nothing. Returns whether it did.
    """
    if not sys.platform.startswith("linux") or niceness <= 0:
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError as exc:  # e.g. a sandbox that forbids it: run at normal priority
        log.debug("could not lower the priority of thread %s: %s", threading.current_thread().name, exc)
        return False
    return True
