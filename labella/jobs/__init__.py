"""Background jobs: durable records in the database and a local threaded runner.

Slow work (featurising, retraining, scoring a large pool, exports) is enqueued as
a job; the request only returns its id. :class:`JobQueue` owns the job rows
(status, progress, ETA, log, heartbeat); :class:`LocalWorker` runs the handlers a
:class:`JobRegistry` maps job kinds to.
"""

from labella.jobs.queue import JobInfo, JobNotFoundError, JobQueue
from labella.jobs.runner import (
    Handler,
    JobCancelled,
    JobContext,
    JobInterrupted,
    JobRegistry,
    LocalWorker,
)

__all__ = [
    "Handler",
    "JobCancelled",
    "JobContext",
    "JobInfo",
    "JobInterrupted",
    "JobNotFoundError",
    "JobQueue",
    "JobRegistry",
    "LocalWorker",
]
