"""Serving with several worker processes: same answers as one process, a dead worker is
replaced, the feedback store takes concurrent writers from several processes, and a
seconds-long load test against a real `rag serve --workers 2` has no errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.bench.load import ServerProcess, gold_questions, load_test
from rag.interfaces.feedback import FeedbackStore
from rag.interfaces.server import create_app
from rag.settings import Settings

QUESTIONS = [
    "退休人员医保缴费年限要满多少年？",
    "住院起付标准是多少",
    "嘉政发〔2014〕87号 第十四条",
]


WRITER = """
import sys
from pathlib import Path
from rag.interfaces.feedback import FeedbackStore
store = FeedbackStore(Path(sys.argv[1]))
w = sys.argv[2]
for i in range(60):
    store.add(f"q{w}-{i}", "a", [{"doc_no": "D", "clause": "1"}], "helpful", "")
    if i % 10 == 0:
        store.all()  # a reader between the writes
"""


def test_feedback_store_takes_concurrent_writers_from_processes(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    rows = FeedbackStore(db).all()
    assert len(rows) == 240
    assert len({r["id"] for r in rows}) == 240
    assert {r["question"] for r in rows} == {f"q{w}-{i}" for w in range(4) for i in range(60)}
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _strip(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


@pytest.mark.slow
def test_worker_pool_answers_as_one_process_does_and_survives_a_dead_worker(
    fake_settings: Settings, tmp_path: Path
) -> None:
    settings = fake_settings.model_copy(update={"home": fake_settings.home})
    with TestClient(create_app(settings)) as one:
        expected = [one.post("/api/ask", json={"question": q}).json() for q in QUESTIONS]
        expected_search = one.get("/api/search", params={"q": QUESTIONS[1], "k": 5}).json()
    app = create_app(settings, workers=2)
    pool = app.state.pool
    try:
        pids = pool.pids()
        assert len(pids) == 2 and os.getpid() not in pids
        with TestClient(app) as two:
            got = [two.post("/api/ask", json={"question": q}).json() for q in QUESTIONS]
            assert [_strip(a) for a in got] == [_strip(a) for a in expected]
            assert two.get("/api/search", params={"q": QUESTIONS[1], "k": 5}).json() == (
                expected_search
            )
            assert two.get("/api/health").json()["status"] == "ok"
            bad = two.post("/api/ask", json={"question": "   "})
            assert bad.status_code == 400  # the worker's InputError crosses over intact

            os.kill(pids[0], signal.SIGKILL)
            time.sleep(0.5)
            again = two.post("/api/ask", json={"question": QUESTIONS[0]})
            assert again.status_code == 200
            assert _strip(again.json()) == _strip(expected[0])
            assert set(pool.pids()).isdisjoint({pids[0]})
    finally:
        pool.close()


@pytest.mark.slow
def test_load_smoke_against_rag_serve_with_two_workers(fake_home: Path, tmp_path: Path) -> None:
    """A few seconds of the `rag bench --only load` test: 8 clients, no errors."""
    env = {"RAG_HOME": str(fake_home), "RAG_EMBEDDER": "fake"}
    with ServerProcess(2, env, tmp_path / "serve.log") as server:
        questions = gold_questions()[:40]
        load_test(server.base_url, questions, clients=2, seconds=0.5)  # warm up
        res = load_test(server.base_url, questions, clients=8, seconds=3.0)
        rss = server.rss_mib()
    assert res.errors == 0, res.error_kinds
    assert res.requests >= 8  # every client finished what it sent
    assert res.latency_ms["p50"] is not None
    assert len([k for k in rss if k.startswith("worker-")]) == 2


def test_load_test_refuses_other_than_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        load_test("http://10.0.0.1:7860", ["q"], clients=1, seconds=0.1)
