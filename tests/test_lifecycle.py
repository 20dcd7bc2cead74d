"""Corpus lifecycle through the CLI: sources known by content and path, documents replaced
and retired with the index updated in the same step, history, the write lock, temp files.

Real text throughout (the shipped corpus) and the FakeEmbedder; each test works on its
own copy of the session's store, or of a small indexed one (every index update
re-tokenises all clauses, so the small one keeps these tests fast).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.index import versions
from rag.ingest import store
from rag.ingest.changes import history_of, remove_document
from rag.ingest.pipeline import ingest
from rag.locks import write_lock
from rag.settings import SHIPPED_CORPUS

GAZETTE_2017 = SHIPPED_CORPUS / "000_d3b6ddc9e5e8e6fc.txt"
GAZETTE_2014 = SHIPPED_CORPUS / "003_0e8310ee3ea63b6f.txt"
MED06 = SHIPPED_CORPUS / "external" / "med06_guobanfa_2023_17_fund_regular_supervision.txt"
D17 = "国办发〔2023〕17号"
OLD_PHRASE = "制定 并公开飞行检查方案"
NEW_PHRASE = "制定 并每季度公开飞行检查方案"

runner = CliRunner()


def run(home: Path, *args: str, **env: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), env={"RAG_HOME": str(home), "RAG_EMBEDDER": "fake", **env})
    return r.exit_code, r.stdout, r.stderr


def index_records(home: Path) -> list[dict]:
    with (home / "index" / "clauses.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture()
def home(tmp_path: Path, shipped_home: Path) -> Path:
    """The shipped corpus in a store of its own (no index)."""
    h = tmp_path / "home"
    h.mkdir()
    shutil.copy(shipped_home / "corpus.sqlite", h / "corpus.sqlite")
    return h


@pytest.fixture()
def indexed(tmp_path: Path, small_home: Path) -> Path:
    """Four shipped documents with a fake-embedder index, copied (the link is relative)."""
    h = tmp_path / "indexed"
    shutil.copytree(small_home, h, symlinks=True)
    return h


def test_a_file_sharing_a_stored_files_name_touches_nothing_else(
    home: Path, tmp_path: Path
) -> None:
    """Issue 13, defect 2: another folder's 000_d3b6ddc9e5e8e6fc.txt once removed the 2017
    gazette's 14 documents. A source is known by content and path, not by base name."""
    other = tmp_path / "other"
    other.mkdir()
    namesake = other / GAZETTE_2017.name
    # a different real document (an edited 17号) under the gazette's name
    namesake.write_text(MED06.read_text("utf-8").replace(OLD_PHRASE, NEW_PHRASE), "utf-8")
    before = store.load(home / "corpus.sqlite")
    assert sum(d.source == GAZETTE_2017.name for d in before.printed()) == 14

    code, out, err = run(home, "ingest", str(namesake))
    assert code == 0, err
    after = store.load(home / "corpus.sqlite")
    assert sum(d.source == GAZETTE_2017.name for d in after.printed()) == 14
    assert len(after.documents) == len(before.documents)  # 17号 replaced, nothing lost
    new = next(d for d in after.documents if d.doc_no == D17)
    assert new.source.startswith("000_d3b6ddc9e5e8e6fc.") and new.source != GAZETTE_2017.name
    assert after.sources[new.source].path == str(namesake.resolve())
    # the replaced document is reported, with where its stored text came from
    assert f"replaced: {D17} (the stored text from {MED06.name})" in out
    assert "also called 000_d3b6ddc9e5e8e6fc.txt" in out
    # the spans cite the new name, so the viewer finds the right raw text
    assert all(c.span and c.span.file == new.source for c in new.clauses)


def test_same_content_again_is_unchanged_and_said_so(home: Path) -> None:
    mtime = (home / "corpus.sqlite").stat().st_mtime_ns
    code, out, _ = run(home, "ingest", str(GAZETTE_2014))
    assert code == 0
    assert "003_0e8310ee3ea63b6f.txt: 28 documents" in out and "unchanged" in out
    assert "(nothing changed)" in out
    assert (home / "corpus.sqlite").stat().st_mtime_ns == mtime  # not even rewritten


def test_new_version_of_a_file_replaces_its_documents_and_the_index_follows(
    indexed: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "med06_v2.txt"
    text = MED06.read_text(encoding="utf-8")
    assert OLD_PHRASE in text
    edited.write_text(text.replace(OLD_PHRASE, NEW_PHRASE), encoding="utf-8")
    n_before = len(index_records(indexed))

    code, out, err = run(indexed, "ingest", str(edited))
    assert code == 0, err
    assert f"replaced: {D17}" in out
    # only the edited clause is embedded again, in the same command
    assert f"index: {n_before} clauses (1 embedded, {n_before - 1} reused)" in out
    texts = [r["text"] for r in index_records(indexed) if r["doc_no"] == D17]
    assert any("每季度公开飞行检查方案" in t for t in texts)
    assert not any("并公开飞行检查方案" in t.replace(" ", "") for t in texts)

    code, out, _ = run(indexed, "search", "每季度公开飞行检查方案", "--k", "1", "--json")
    assert code == 0 and json.loads(out)[0]["doc_no"] == D17

    code, out, _ = run(indexed, "docs", "--history", "国办发[2023]17号", "--json")
    events = json.loads(out)
    assert [e["action"] for e in events] == ["ingest", "replace"]
    assert events[1]["source_path"] == str(edited.resolve())
    assert events[1]["actor"] == "cli" and len(events[1]["source_sha256"]) == 64


def test_remove_retires_a_document_from_store_index_search_and_answers(indexed: Path) -> None:
    n_before = len(index_records(indexed))
    n_doc = sum(r["doc_no"] == D17 for r in index_records(indexed))
    assert n_doc == 18

    code, out, err = run(indexed, "remove", "国办发[2023]17号")
    assert code == 0, err
    assert f"removed {D17}" in out and "18 clauses" in out
    assert f"index: {n_before - 18} clauses (0 embedded" in out
    assert not any(r["doc_no"] == D17 for r in index_records(indexed))
    assert all(d.doc_no != D17 for d in store.load(indexed / "corpus.sqlite").documents)

    code, out, _ = run(indexed, "search", "医保基金使用常态化监管 飞行检查", "--json", "--k", "20")
    assert code == 0 and all(h["doc_no"] != D17 for h in json.loads(out))
    code, out, _ = run(indexed, "ask", "医保基金飞行检查如何常态化？", "--json")
    assert code == 0 and all(c["doc_no"] != D17 for c in json.loads(out)["citations"])

    code, out, _ = run(indexed, "docs", "--history", D17)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("time (UTC)") and "\tremove\t" in lines[-1]
    assert lines[-1].endswith("\tcli\tretired")
    # removed twice: a one-line error, nothing changed
    code, _, err = run(indexed, "remove", D17)
    assert code == 1 and "unknown document" in err and err.count("\n") == 1


def test_no_index_changes_the_store_only_and_says_so(indexed: Path) -> None:
    target = (indexed / "index").resolve()
    code, out, _ = run(indexed, "remove", D17, "--no-index")
    assert code == 0 and "--no-index" in out and "rag index" in out
    assert (indexed / "index").resolve() == target
    code, out, _ = run(indexed, "index")
    assert code == 0 and "(0 embedded" in out
    assert not any(r["doc_no"] == D17 for r in index_records(indexed))


def test_history_of_documents_by_number_variant_title_and_after_removal(corpus) -> None:
    events = history_of(corpus, "嘉政发[2014]87号")
    assert [e.action for e in events] == ["ingest"] and events[0].source == GAZETTE_2014.name
    assert history_of(corpus, "天津市基本医疗保险条例")[0].doc_key == "天津市基本医疗保险条例"
    gone, _ = remove_document(corpus, D17, actor="web")
    assert [(e.action, e.actor) for e in history_of(gone, D17)] == [
        ("ingest", "cli"),
        ("remove", "web"),
    ]
    with pytest.raises(Exception, match="no document and no history"):
        history_of(corpus, "嘉政发〔2099〕1号")


def test_history_survives_the_store_round_trip_and_old_stores_still_load(
    home: Path, corpus
) -> None:
    gone, _ = remove_document(corpus, D17, actor="api")
    store.save(gone, home / "corpus.sqlite")
    again = store.load(home / "corpus.sqlite")
    assert [e.to_json() for e in again.history] == [e.to_json() for e in gone.history]
    assert all(s.path for s in again.sources.values())
    # a version 1 store (before history and paths) is read as it is
    import sqlite3

    con = sqlite3.connect(home / "corpus.sqlite")
    with con:
        con.execute("DROP TABLE history")
        con.execute("ALTER TABLE sources DROP COLUMN path")
        con.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    con.close()
    old = store.load(home / "corpus.sqlite")
    assert old.history == [] and len(old.documents) == len(gone.documents)
    code, out, _ = run(home, "docs", "--history", "嘉政发〔2014〕87号")
    assert code == 0 and "no history recorded" in out


def test_a_second_writer_waits_then_gives_up_with_one_line(home: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with write_lock(home, what="rag ingest", timeout=5):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(5)
        t0 = time.monotonic()
        code, _, err = run(home, "remove", D17, RAG_LOCK_TIMEOUT="1")
        assert time.monotonic() - t0 >= 1
    finally:
        release.set()
        t.join()
    assert code == 1
    lines = err.strip().splitlines()
    assert "another rag ingest (pid" in lines[0] and "waiting" in lines[0]
    assert lines[-1].startswith("error: another rag ingest") and "try again later" in lines[-1]
    assert any(d.doc_no == D17 for d in store.load(home / "corpus.sqlite").documents)
    # once the lock is free, the same command goes through
    code, out, _ = run(home, "remove", D17)
    assert code == 0 and "removed" in out


def test_removing_the_last_document_removes_the_index(tmp_path: Path) -> None:
    h = tmp_path / "h"
    code, _, _ = run(h, "ingest", str(MED06))
    assert code == 0 and run(h, "index")[0] == 0
    code, out, _ = run(h, "remove", D17)
    assert code == 0 and "no clauses left" in out
    assert versions.current(h / "index") is None
    code, _, err = run(h, "search", "飞行检查")
    assert code == 1 and "no index" in err
    # and the next ingest + index starts afresh without resurrecting the old version
    assert run(h, "ingest", str(MED06))[0] == 0
    code, out, _ = run(h, "index")
    assert code == 0 and "18 clauses" in out


def test_a_replaced_document_keeps_its_place_and_a_retired_one_can_come_back(
    corpus, tmp_path: Path
) -> None:
    """In memory: the same 文号 from another file replaces the stored document in place."""
    pos = next(i for i, d in enumerate(corpus.documents) if d.doc_no == D17)
    same, [summary] = ingest([MED06], corpus)
    assert summary.status == "unchanged" and same is corpus

    edited = tmp_path / "med06_v2.txt"
    edited.write_text(MED06.read_text("utf-8").replace(OLD_PHRASE, NEW_PHRASE), "utf-8")
    merged, [summary] = ingest([edited], corpus)
    assert summary.status == "new" and summary.replaced == [D17]
    assert len(merged.documents) == len(corpus.documents)
    assert merged.documents[pos].doc_no == D17
    assert "每季度公开飞行检查方案" in merged.documents[pos].text.replace(" ", "")
    assert MED06.name not in merged.sources  # no document of it is left
    assert corpus.documents[pos].source == MED06.name  # the input corpus is untouched

    gone, _ = remove_document(corpus, D17)
    back, [summary] = ingest([MED06], gone)
    assert summary.status == "new" and summary.added == [D17]
    assert back.documents[-1].doc_no == D17 and len(back.documents) == len(corpus.documents)


def test_a_status_set_by_hand_is_recorded_in_the_history_and_leaves_the_index(
    indexed: Path,
) -> None:
    version = (indexed / "index").resolve()
    code, out, err = run(indexed, "docs", "--set-status", D17, "已被废止", "--note", "新办法施行")
    assert code == 0, err
    assert f"{D17}: 已被废止 (set by hand)" in out
    code, out, _ = run(indexed, "docs", "--history", "国办发[2023]17号", "--json")
    events = json.loads(out)
    assert [e["action"] for e in events] == ["ingest", "status-set"]
    assert events[-1]["actor"] == "cli" and events[-1]["detail"] == "已被废止: 新办法施行"
    back = store.load(indexed / "corpus.sqlite")
    assert back.get(D17).status_mark is not None and len(back.status_marks) == 1
    assert (indexed / "index").resolve() == version  # statuses live in the store only
    code, out, _ = run(indexed, "docs", "--set-status", D17, "auto")
    assert code == 0 and "hand-set status is cleared" in out
    code, out, _ = run(indexed, "docs", "--history", D17, "--json")
    assert json.loads(out)[-1]["detail"] == "auto (as its text says)"


def _as_format_2(path: Path) -> None:
    """Rewrite a store as main's format 2 wrote it: validity and status marks, but no
    source paths and no history."""
    import sqlite3

    con = sqlite3.connect(path)
    with con:
        con.execute("DROP TABLE history")
        con.execute("ALTER TABLE sources DROP COLUMN path")
        con.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    con.close()


def test_a_format_2_store_is_upgraded_without_losing_a_row_and_a_newer_one_is_refused(
    home: Path,
) -> None:
    path = home / "corpus.sqlite"
    d99 = "嘉政办发〔2014〕99号"
    assert run(home, "docs", "--set-status", d99, "已过有效期", "--note", "新预案")[0] == 0
    want = store.load(path)
    _as_format_2(path)
    old = store.load(path)
    assert old.upgraded_from == 2 and old.history == []
    assert [d.to_json() for d in old.documents] == [d.to_json() for d in want.documents]
    assert old.status_marks == want.status_marks and old.get(d99).status_mark is not None
    assert set(old.sources) == set(want.sources)

    code, out, err = run(home, "ingest", str(GAZETTE_2014))  # unchanged: only the format
    assert code == 0, err
    assert "store upgraded from format 2 to 3" in out and "unchanged" in out
    new = store.load(path)
    assert new.upgraded_from is None
    assert [d.to_json() for d in new.documents] == [d.to_json() for d in want.documents]
    assert new.status_marks == want.status_marks
    assert set(new.sources) == set(want.sources)
    assert run(home, "docs", "--set-status", d99, "auto")[0] == 0
    assert [e.action for e in store.load(path).history] == ["status-set"]

    import sqlite3

    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    con.close()
    code, _, err = run(home, "docs")
    assert code == 1 and "has format 4, this program reads 1 to 3" in err
    assert err.count("\n") == 1
    code, _, err = run(home, "remove", d99)
    assert code == 1 and "has format 4" in err
