"""Issue 13, defect 1: two `rag ingest` at the same time lost one file's documents (the
store was read, changed and rewritten without a lock). Five files ingested by five
processes at once, five rounds: every document of every file must be stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.ingest import store
from rag.ingest.pipeline import parse_file
from rag.settings import PROJECT_ROOT, SHIPPED_CORPUS

pytestmark = pytest.mark.slow

EXTERNAL = SHIPPED_CORPUS / "external"
FILES = [
    EXTERNAL / "gen01_xinyu_yufufa_2012_3_green_building.txt",
    EXTERNAL / "gen02_xinjiang_xinzhijianbanfa_2012_24_publicity.txt",
    EXTERNAL / "med04_state_council_decree735_fund_supervision_2021.md",
    EXTERNAL / "med05_nhsa_decree1_drug_management_2020.txt",
    EXTERNAL / "med06_guobanfa_2023_17_fund_regular_supervision.txt",
]
ROUNDS = 5


def test_five_concurrent_ingests_lose_no_document(tmp_path: Path) -> None:
    expected = set()
    for f in FILES:
        _, docs, _ = parse_file(f)
        expected |= {d.key for d in docs}
    assert len(expected) >= 5
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RAG_EMBEDDER": "fake"}
    lost: dict[int, set[str]] = {}
    waited = 0
    for r in range(ROUNDS):
        home = tmp_path / f"round{r}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "rag.cli", "ingest", str(f)],
                env={**env, "RAG_HOME": str(home)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for f in FILES
        ]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            waited += "waiting" in err
        stored = {d.key for d in store.load(home / "corpus.sqlite").documents}
        if stored != expected:
            lost[r] = expected - stored
    assert lost == {}, f"documents lost: {lost}"
    assert waited > 0  # the processes did meet: some waited for the lock, and said so
    # and each document was recorded once, by the process that stored it
    last = store.load(tmp_path / f"round{ROUNDS - 1}" / "corpus.sqlite")
    assert sorted(e.doc_key for e in last.history) == sorted(expected)
