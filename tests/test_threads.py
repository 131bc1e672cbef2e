"""Background threads run at a lower scheduling priority than the requests."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from labella._threads import run_in_background_priority


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_only_the_calling_thread_is_lowered() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    seen: dict[str, int | bool] = {}

    def background() -> None:
        seen["lowered"] = run_in_background_priority(5)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    t = threading.Thread(target=background)
    t.start()
    t.join()
    assert seen["lowered"] is True
    assert seen["nice"] == min(19, before + 5)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the process (this thread) is not


def test_no_niceness_is_a_no_op() -> None:
    assert run_in_background_priority(0) is False
