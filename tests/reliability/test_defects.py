"""Issue 13's lifecycle defects 2, 7, 8 and 9, each with the test that failed before its fix.

They drive the system only through what existed before the fix (the CLI's ingest, index
and search, the store, the server's state and routes), so the same file runs against the
old code and shows each defect there. Defect 1 (concurrent ingests) has its own file.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rag.cli import app
from rag.ingest import store
from rag.interfaces.api import State
from rag.interfaces.server import create_app
from rag.settings import SHIPPED_CORPUS, Settings

EXTERNAL = SHIPPED_CORPUS / "external"
GAZETTE_2017 = SHIPPED_CORPUS / "000_d3b6ddc9e5e8e6fc.txt"
BASE_FILES = [
    EXTERNAL / "gen01_xinyu_yufufa_2012_3_green_building.txt",
    EXTERNAL / "gen02_xinjiang_xinzhijianbanfa_2012_24_publicity.txt",
    EXTERNAL / "med05_nhsa_decree1_drug_management_2020.txt",
]
MED06 = EXTERNAL / "med06_guobanfa_2023_17_fund_regular_supervision.txt"
D17 = "国办发〔2023〕17号"
MED06_CLAUSES = 18

runner = CliRunner()


def cli(home: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), env={"RAG_HOME": str(home), "RAG_EMBEDDER": "fake"})
    return r.exit_code, r.stdout, r.stderr


def embedded(out: str) -> int | None:
    for line in out.splitlines():
        if line.startswith("index: ") and " embedded" in line:
            return int(line.split("(", 1)[1].split(" embedded", 1)[0])
    return None


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three shipped documents, indexed with the FakeEmbedder, through the CLI."""
    home = tmp_path_factory.mktemp("small") / "home"
    assert cli(home, "ingest", *map(str, BASE_FILES))[0] == 0
    code, _, err = cli(home, "index")
    assert code == 0, err
    return home


@pytest.fixture()
def home(small: Path, tmp_path: Path) -> Path:
    return shutil.copytree(small, tmp_path / "home", symlinks=True)


def test_defect2_a_namesake_file_does_not_replace_a_stored_files_documents(
    shipped_home: Path, tmp_path: Path
) -> None:
    """Ingesting another folder's 000_d3b6ddc9e5e8e6fc.txt removed the 2017 gazette's 14
    documents: a source was known by its base name."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(shipped_home / "corpus.sqlite", home / "corpus.sqlite")
    namesake = tmp_path / "other" / GAZETTE_2017.name
    namesake.parent.mkdir()
    namesake.write_text(
        "# 某市门诊慢性病管理办法\n\n（某政发〔2020〕5 号）\n\n"
        "第一条 为规范门诊慢性病管理，制定本办法。\n\n"
        "第二条 门诊慢性病起付标准为每年300元，报销比例为60%。\n",
        encoding="utf-8",
    )
    before = store.load(home / "corpus.sqlite")
    code, _, err = cli(home, "ingest", str(namesake))
    assert code == 0, err
    after = store.load(home / "corpus.sqlite")
    assert sum(d.source == GAZETTE_2017.name for d in after.printed()) == 14
    assert {d.key for d in before.documents} <= {d.key for d in after.documents}
    assert "某政发〔2020〕5号" in {d.doc_no for d in after.documents}


def _as_old_swap_leftover(home: Path) -> None:
    """The state the old swap left when killed between its two renames: no ``index``,
    the old copy at ``.index.old-<pid>-…``, the new one complete at ``.index.tmp-…``."""
    link = home / "index"
    real = link.resolve()
    dead = 999_999_999
    if link.is_symlink():
        link.unlink()
    os.replace(real, home / f".index.old-{dead}-0123abcd")
    shutil.rmtree(home / "index-versions", ignore_errors=True)
    shutil.copytree(home / f".index.old-{dead}-0123abcd", home / f".index.tmp-{dead}-4567cdef")


def test_defect7_an_index_lost_between_two_renames_is_restored_not_rebuilt(home: Path) -> None:
    """A kill between the two renames of the index swap left no index: `rag search`
    failed, `rag serve` refused to start, the next `rag index` re-embedded everything."""
    cli(home, "ingest", str(MED06))  # the store is now ahead of the index by 17号
    _as_old_swap_leftover(home)
    assert not (home / "index").exists()

    code, out, err = cli(home, "search", "药品 管理", "--json")
    assert code == 0, err
    assert json.loads(out)
    state = State(Settings(home=home, embedder="fake"))  # what `rag serve` loads
    assert len(state.assistant.index) > 0
    code, out, err = cli(home, "index")
    assert code == 0, err
    assert embedded(out) in (0, MED06_CLAUSES)  # never all of them again
    assert not [p for p in home.iterdir() if p.name.startswith(".index.")]


def test_defect8_a_running_server_sees_a_new_corpus_and_index(home: Path) -> None:
    """A running server never saw a new index or corpus until restart."""
    settings = Settings(home=home, embedder="fake", reload_check_seconds=0)
    with TestClient(create_app(settings)) as client:
        assert all(d["doc_no"] != D17 for d in client.get("/api/docs").json())
        hits = client.get("/api/search", params={"q": "飞行检查常态化", "k": 5}).json()
        assert all(h["doc_no"] != D17 for h in hits)
        # another process changes the corpus and the index
        assert cli(home, "ingest", str(MED06))[0] == 0
        assert cli(home, "index")[0] == 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            docs = client.get("/api/docs").json()
            hits = client.get("/api/search", params={"q": "飞行检查常态化", "k": 5}).json()
            if any(d["doc_no"] == D17 for d in docs) and any(h["doc_no"] == D17 for h in hits):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the running server does not see the new document")


def test_defect9_orphan_temp_stores_of_dead_writers_are_removed(home: Path) -> None:
    """A `.corpus-*.sqlite` temp file left by a killed ingest was never cleaned."""
    dead = home / ".corpus-999999999-0123abcd.sqlite"  # a writer that is gone
    dead.write_bytes(b"half a database")
    legacy = home / ".corpus-k3j2h1g0.sqlite"  # named without a pid (older code): old
    legacy.write_bytes(b"half a database")
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    alive = home / f".corpus-{os.getpid()}-0123abcd.sqlite"  # a live writer's: kept
    alive.write_bytes(b"being written")

    code, _, err = cli(home, "ingest", str(MED06))
    assert code == 0, err
    assert not dead.exists() and not legacy.exists() and alive.exists()
