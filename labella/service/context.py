"""The service context: everything a use-case needs, built once from :class:`Settings`.

``ServiceContext(settings)`` opens the database (and brings its schema up to
date), the blob store, the embedding cache, the job queue with its handlers,
and the labelling-loop manager. ``start()`` starts the background threads (the
local job worker and the loop's refitter); ``close()`` stops them. Nothing here
is a module-level global: tests build as many contexts as they like.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from labella.config import Settings
from labella.features.base import Featuriser
from labella.features.cache import EmbeddingCache
from labella.jobs.queue import JobQueue
from labella.jobs.runner import JobRegistry, LocalWorker
from labella.service.loop import LoopManager
from labella.store.blobs import BlobStore, open_blob_store
from labella.store.engine import make_engine, make_read_session_factory, make_session_factory
from labella.store.projects import Project
from labella.store.schema import upgrade

log = logging.getLogger(__name__)


class ServiceContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url)
        upgrade(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.readers = make_read_session_factory(self.engine)
        self.cache = EmbeddingCache(settings.resolved_cache_dir)
        self.blobs: BlobStore = open_blob_store(settings.resolved_blob_url,
                                                storage_options=settings.storage_options)
        self.jobs = JobQueue(self.sessions, heartbeat_seconds=settings.heartbeat_seconds)
        self.handlers = JobRegistry()
        self._featurisers: dict[str, Featuriser] = {}
        self._feat_lock = threading.Lock()
        self.loops = LoopManager(self.sessions, featuriser_for=self.project_featuriser,
                                 cache=self.cache, lease_seconds=settings.lease_seconds,
                                 read_factory=self.readers)
        self.worker: LocalWorker | None = None
        from labella.service.simindex import SimilarityIndexes

        self.similar = SimilarityIndexes()
        from labella.service.datamap import MapFiles

        self.maps = MapFiles()
        from labella.service.handlers import register_handlers

        register_handlers(self)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, *, worker: bool | None = None, recover_all: bool = False) -> ServiceContext:
        """Start the refitter and (unless ``worker`` is false) the local job worker.

        ``recover_all`` (the server does this at start): requeue or fail at once every job
        left running, as after a crash; only right when no other process runs this
        database's jobs. Otherwise a job whose heartbeat went silent is recovered within
        ``4 * heartbeat_seconds``.
        """
        self.loops.start()
        if worker if worker is not None else self.settings.worker:
            self.worker = LocalWorker(self.jobs, self.handlers, threads=self.settings.worker_threads)
            self.worker.start(recover=recover_all)
        if recover_all:
            from labella.service.training import discard_unfinished

            with self.session() as s:  # a retrain killed while storing its version
                if n := discard_unfinished(s):
                    log.warning("deleted %d unfinished model version(s) left by a stopped job", n)
        from labella.service.uploads import sweep_uploads

        sweep_uploads(self)  # uploads of imports that ended without running (e.g. at recovery)
        return self

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.loops.stop()
        self.engine.dispose()

    def __enter__(self) -> ServiceContext:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- helpers -----------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on error."""
        with self.sessions() as s, s.begin():
            yield s

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only (on SQLite it never waits for a writer); rolled back
        at the end."""
        with self.readers() as s:
            try:
                yield s
            finally:
                s.rollback()

    def featuriser(self, name: str) -> Featuriser:
        """A shared featuriser instance by registry name (models load once per process)."""
        from labella.features.registry import get_featuriser

        with self._feat_lock:
            f = self._featurisers.get(name)
            if f is None:
                # model exports (ONNX) live in the shared model cache, not per data directory
                f = self._featurisers[name] = get_featuriser(name)
            return f

    def project_featuriser(self, project: Project) -> Featuriser:
        return self.featuriser(project.featuriser)

    def enqueue(self, kind: str, *, params: dict[str, Any], project_id: int | None,
                created_by: int | None, resumable: bool = True) -> Any:
        job = self.jobs.enqueue(kind, params=params, project_id=project_id, created_by=created_by,
                                resumable=resumable)
        if self.worker is not None:
            self.worker.wake()
        return job
