"""The crash matrix (issue 13, defect 7): a writer killed with SIGKILL at every step of
ingest, remove and index. Afterwards something must serve — the old state or the new one,
store and index agreeing — and doing the command again must embed only what changed
(never everything again).

The writer runs in a subprocess with ``RAG_FAULT=<point>`` (:mod:`rag.faults`), so it
dies exactly like ``kill -9`` at that point; what follows runs in this process through
the CLI. The home is small (three documents of the shipped corpus, FakeEmbedder) to keep
the matrix fast: 14 kills.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.faults import POINTS
from rag.index import versions
from rag.index.lifecycle import ingest_files, reindex
from rag.ingest import store
from rag.interfaces.api import State
from rag.settings import PROJECT_ROOT, SHIPPED_CORPUS, Settings

pytestmark = pytest.mark.slow

EXTERNAL = SHIPPED_CORPUS / "external"
BASE_FILES = [
    EXTERNAL / "gen01_xinyu_yufufa_2012_3_green_building.txt",
    EXTERNAL / "gen02_xinjiang_xinzhijianbanfa_2012_24_publicity.txt",
    EXTERNAL / "med05_nhsa_decree1_drug_management_2020.txt",
]
MED06 = EXTERNAL / "med06_guobanfa_2023_17_fund_regular_supervision.txt"
D17 = "国办发〔2023〕17号"
MED06_CLAUSES = 18
runner = CliRunner()

# (operation, point): every point an `ingest` with an index passes; for a removal and
# for `rag index` (the same commit), the points between the store and the index swap;
# the move of an index made before versions
INGEST = [p for p in POINTS if p != "index:legacy-moved"]
CASES = (
    [("ingest", p) for p in INGEST]
    + [("remove", p) for p in ("store:tmp-written", "commit:store-replaced")]
    + [("index", "commit:journal-written"), ("legacy-index", "index:legacy-moved")]
)


def settings(home: Path) -> Settings:
    return Settings(home=home, embedder="fake")


def cli(home: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), env={"RAG_HOME": str(home), "RAG_EMBEDDER": "fake"})
    return r.exit_code, r.stdout, r.stderr


def snapshot(home: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The stored document keys and the index's (clause id, hash) rows."""
    docs = sorted(d.key for d in store.load(home / "corpus.sqlite").documents)
    with (home / "index" / "clauses.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return docs, [(r["id"], r["hash"]) for r in rows]


def store_matches_index(home: Path) -> bool:
    corpus = store.load(home / "corpus.sqlite")
    in_store = sorted(c.id for c in corpus.clauses())
    return in_store == sorted(i for i, _ in snapshot(home)[1])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _to_legacy(home: Path) -> None:
    """Turn the home's index into the layout made before versions: a real directory."""
    link = home / "index"
    target = link.resolve()
    link.unlink()
    os.replace(target, link)
    shutil.rmtree(home / "index-versions")


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small indexed home per operation ("before"), and its state after a clean run."""
    root = tmp_path_factory.mktemp("crash")
    base = root / "base"
    ingest_files(settings(base), BASE_FILES)
    reindex(settings(base), progress=False)

    unindexed = _copy(base, root / "unindexed")  # the store holds 17号, the index not
    ingest_files(settings(unindexed), [MED06], reindex=False)
    legacy = _copy(unindexed, root / "legacy")
    _to_legacy(legacy)
    removable = _copy(base, root / "removable")
    ingest_files(settings(removable), [MED06])

    before = {"ingest": base, "remove": removable, "index": unindexed, "legacy-index": legacy}
    after = {}
    for op, home in before.items():
        done = _copy(home, root / f"{op}-done")
        code, _, err = cli(done, *ARGS[op])
        assert code == 0, err
        after[op] = snapshot(done)
    # the killed writers, two at a time (each is one busy core for a second or two)
    jobs = {}
    for op, point in CASES:
        home = _copy(before[op], root / f"{op}-{point.replace(':', '_')}")
        jobs[(op, point)] = home
    with ThreadPoolExecutor(max_workers=2) as pool:
        killed = dict(
            zip(jobs, pool.map(lambda c: kill_at(jobs[c], c[0], c[1]), jobs), strict=True)
        )
    return {"root": root, "before": before, "after": after, "killed": killed}


def kill_at(home: Path, op: str, point: str) -> tuple[Path, int, str]:
    """Run the operation in a subprocess that kills itself at ``point``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RAG_HOME": str(home),
        "RAG_EMBEDDER": "fake",
        "RAG_FAULT": point,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", *ARGS[op]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return home, proc.returncode, proc.stderr


ARGS = {
    "ingest": ("ingest", str(MED06)),
    "remove": ("remove", D17),
    "index": ("index",),
    "legacy-index": ("index",),
}


def embedded(out: str) -> int:
    """Clauses embedded by a command, from its `index: N clauses (K embedded, …)` line."""
    for line in out.splitlines():
        if line.startswith("index: ") and " embedded" in line:
            return int(line.split("(", 1)[1].split(" embedded", 1)[0])
    return 0


@pytest.mark.parametrize(("op", "point"), CASES, ids=[f"{o}@{p}" for o, p in CASES])
def test_a_killed_writer_leaves_a_serving_state_and_no_full_reembed(
    homes: dict[str, Any], op: str, point: str
) -> None:
    old, new = snapshot(homes["before"][op]), homes["after"][op]
    home, returncode, stderr = homes["killed"][(op, point)]
    assert returncode == -9, f"not killed at {point}: {stderr[-500:]}"

    # something serves: a search answers (recovery first, as every command does) …
    code, out, err = cli(home, "search", "药品 管理", "--json", "--k", "3")
    assert code == 0, err
    assert json.loads(out), "no hits"
    # … from the old state or the new one, store and index agreeing
    now = snapshot(home)
    assert now in (old, new)
    if op in ("ingest", "remove"):  # (`index` starts from a store ahead of its index)
        assert store_matches_index(home)
    # doing it again embeds only the changed document's clauses, never everything
    code, out, err = cli(home, *ARGS[op])
    if op == "remove" and now == new:  # it was done: the document is gone
        assert code == 1 and "unknown document" in err
    else:
        assert code == 0, err
    assert embedded(out) <= (MED06_CLAUSES if op != "remove" else 0), out
    assert snapshot(home) == new
    assert not (home / ".commit.json").exists()
    leftovers = [p.name for p in home.iterdir() if p.name.startswith((".corpus-", ".index."))]
    assert leftovers == []
    assert not list(versions.versions_root(home / "index").glob(".tmp-*"))


def test_a_server_on_a_home_whose_writer_died_completes_the_change(
    homes: dict[str, Any], tmp_path: Path
) -> None:
    """A journal left by a killed writer is rolled forward by the server's state (no
    command needed): the new store and the new index, together."""
    home = _copy(homes["before"]["ingest"], tmp_path / "home")
    state = State(settings(home))
    n_before = len(state.assistant.index)
    assert all(d.doc_no != D17 for d in state.corpus.documents)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RAG_HOME": str(home),
        "RAG_EMBEDDER": "fake",
        "RAG_FAULT": "commit:store-replaced",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(MED06)], env=env, capture_output=True
    )
    assert proc.returncode == -9 and (home / ".commit.json").exists()
    state.refresh()
    assert not (home / ".commit.json").exists()
    assert any(d.doc_no == D17 for d in state.corpus.documents)
    assert len(state.assistant.index) == n_before + MED06_CLAUSES
