"""A worker process for the crash tests: it takes a ``hang`` job, reports progress, then hangs.

Run as ``python crash_worker.py DATABASE_URL``; the test kills it with SIGKILL while
the handler sleeps, as if the machine lost power or the process was OOM-killed.
"""

from __future__ import annotations

import sys
import time

from labella.jobs import JobContext, JobQueue, JobRegistry, LocalWorker
from labella.store.engine import make_engine, make_session_factory

HEARTBEAT = 0.5


def hang(ctx: JobContext) -> None:
    ctx.log("checkpoint: 3 of 10 batches done")
    ctx.progress(3, 10, "embedding")
    while True:  # until killed
        time.sleep(0.05)


def main(url: str) -> None:
    queue = JobQueue(make_session_factory(make_engine(url)), heartbeat_seconds=HEARTBEAT)
    registry = JobRegistry()
    registry.register("hang", hang)
    LocalWorker(queue, registry, poll_seconds=0.05, worker_id="doomed").start(recover=False)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1])
