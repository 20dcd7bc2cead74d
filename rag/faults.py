"""Fault injection for the crash tests: ``RAG_FAULT=POINT`` kills the process at POINT.

Writers call :func:`fault` at every step where a crash could leave a half-done state
(``change:applied``, ``store:tmp-written``, ``index:published``, ``commit:store-replaced``
…; the list is ``POINTS``). Only the reliability tests set the variable: the process then
sends itself SIGKILL there, exactly like ``kill -9``, so no ``finally`` block or atexit
handler runs. It is read from the environment directly, not from the settings, because
the points sit deep inside the store and index code that the settings do not reach.
"""

from __future__ import annotations

import os
import signal

ENV = "RAG_FAULT"

# Every point a writer passes, in the order a `rag ingest` with an index passes them.
POINTS = (
    "lock:acquired",
    "change:applied",
    "store:tmp-written",
    "index:embedded",
    "index:tmp-written",
    "index:published",
    "commit:journal-written",
    "commit:store-replaced",
    "index:legacy-moved",
    "commit:index-swapped",
    "commit:done",
)


def fault(point: str) -> None:
    """Kill this process with SIGKILL when ``RAG_FAULT`` names ``point`` (comma-separated list)."""
    wanted = os.environ.get(ENV)
    if wanted and point in (p.strip() for p in wanted.split(",")):
        os.kill(os.getpid(), signal.SIGKILL)
