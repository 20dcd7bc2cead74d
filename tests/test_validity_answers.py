"""Texts in force first, end to end: a repealed document and its successor (a fixture
made from the shipped 87号, see tests/validity_fixture.py), the FakeEmbedder index, the
answers, citations and warnings, the gold items of tests/fixtures/validity_gold.jsonl, and
a status set by hand through the API."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from validity_fixture import GOLD, NEW, NEW_EFFECTIVE, OLD, write_successor

from rag.answer.service import Assistant
from rag.eval.gold import read_gold
from rag.eval.run import run_eval
from rag.index.embedders import FakeEmbedder
from rag.index.store import build_index
from rag.ingest import store
from rag.ingest.pipeline import ingest
from rag.ingest.store import Corpus
from rag.interfaces.api import create_api
from rag.models import IN_FORCE, NOT_YET, REPEALED
from rag.retrieve.validity import InForce, asked_date, without_time
from rag.settings import Settings

AS_OF = "2026-12-03"
WARNING = "该文件已于2017年1月1日被嘉政发〔2016〕120号废止，请以现行文件为准"


@pytest.fixture(scope="module")
def pair_home(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus, fake_home: Path) -> Path:
    """The shipped corpus plus the successor of 87号, indexed with the FakeEmbedder.

    The shipped clauses' vectors are reused from ``fake_home``: only the successor's 56
    clauses are embedded (a few seconds).
    """
    home = tmp_path_factory.mktemp("pairhome")
    both, summaries = ingest([write_successor(corpus, home)], corpus)
    assert not summaries[0].error and summaries[0].documents == 1
    store.save(both, home / "corpus.sqlite")
    shutil.copytree(fake_home / "index", home / "index")
    report = build_index(
        both.clauses(), FakeEmbedder(), home / "index", documents=both.printed(), progress=False
    )
    assert report.n_embedded == 56
    return home


def _assistant(home: Path, as_of: str = AS_OF, answerer: str = "rules") -> Assistant:
    # The answer-content tests use the rule-based answerer: the decision model's features
    # are meaningless on the fake embedder's vectors. The validity steps (ranking, the
    # year settled, warnings) are the same for both answerers; the ranking test below
    # also runs the decision model's path.
    # (and the fake embedder's unit vectors, a third noisy list, are left out: BM25 and
    # the clause vectors carry these tests as they did before answer units existed)
    return Assistant(
        Settings(home=home, embedder="fake", as_of=as_of, answerer=answerer, unit_weight=0.0)
    )


@pytest.fixture(scope="module")
def assistant(pair_home: Path) -> Assistant:
    return _assistant(pair_home)


def test_the_successor_supersedes_87(pair_home: Path) -> None:
    c = store.load(pair_home / "corpus.sqlite")
    old, new = c.get(OLD), c.get(NEW)
    assert [r.doc_no for r in new.supersedes] == [OLD] and new.effective == NEW_EFFECTIVE
    assert [(r.doc_no, r.effective) for r in old.superseded_by] == [(NEW, NEW_EFFECTIVE)]
    assert old.status_on(date(2026, 12, 3)) == REPEALED
    assert (old.status_on(date(2016, 6, 30)), new.status_on(date(2016, 6, 30))) == (
        IN_FORCE,
        NOT_YET,
    )
    j = old.to_json(date(2026, 12, 3))
    assert j["status"] == REPEALED
    assert j["superseded_by"] == [{"doc_no": NEW, "title": new.title, "effective": NEW_EFFECTIVE}]


def _docs(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.clause.doc_key for h in hits if h.clause.doc_key in (OLD, NEW)]


def test_the_repealed_text_ranks_below_its_successor(assistant: Assistant, pair_home: Path) -> None:
    model = _assistant(pair_home, answerer="model")
    for a in (assistant, model):
        for q in ("职工医保住院最高支付限额是多少？", "家庭病床起付标准是多少？"):
            docs = _docs(a.search(q, k=10))
            assert docs and docs[0] == NEW, (q, docs)
            last_new = max(i for i, d in enumerate(docs) if d == NEW)
            assert OLD not in docs or docs.index(OLD) > last_new
    # without the validity step the old text comes first for one of them: the step matters
    plain = _docs(
        Assistant(
            assistant.settings,
            embedder=assistant.embedder,
            index=assistant.index,
            validity=InForce([], date(2026, 12, 3)),
        ).search("职工医保住院最高支付限额是多少？", k=10)
    )
    assert plain.index(OLD) < max(i for i, d in enumerate(plain) if d == NEW)


def test_a_question_about_a_year_is_answered_from_the_text_in_force_then(
    assistant: Assistant,
) -> None:
    then = assistant.ask("2015年职工医保住院最高支付限额是多少？")
    assert not then.refused and "20万元" in then.answer and "30万元" not in then.answer
    assert {c.doc_no for c in then.citations} == {OLD}
    assert all(c.status == REPEALED and c.warning == WARNING for c in then.citations)
    assert f"{OLD}：{WARNING}" in then.notes
    assert f"按2015年时施行的{OLD}作答" in then.notes
    later = assistant.ask("2018年在三级医院住院，起付标准是多少？")
    assert not later.refused and "1000元" in later.answer
    assert {c.doc_no for c in later.citations} == {NEW}
    assert all(c.status == IN_FORCE and not c.warning for c in later.citations)


def test_citations_carry_date_and_status(assistant: Assistant) -> None:
    ans = assistant.ask("职工医保住院起付标准是多少？")
    c = ans.citations[0]
    assert (c.doc_no, c.date, c.status) == (NEW, "2016-12-26", IN_FORCE)
    assert c.to_json()["date"] == "2016-12-26" and "warning" not in c.to_json()
    assert not any("废止" in n for n in ans.notes)


def test_before_the_successor_takes_effect_the_old_text_answers(pair_home: Path) -> None:
    a = _assistant(pair_home, as_of="2016-06-30")
    ans = a.ask("职工医保住院最高支付限额是多少？")
    assert "20万元" in ans.answer and {c.doc_no for c in ans.citations} == {OLD}
    # 87号 is a 暂行办法 still in force then: cited with the plain 暂行 warning
    assert ans.citations[0].warning == "该文件为2014年暂行办法，请以现行政策为准"


def test_gold_items_of_the_fixture(assistant: Assistant) -> None:
    items = read_gold(GOLD)
    run = run_eval(assistant, items, progress=False, n_resamples=10)
    for r in run.items:
        m = r.metrics
        assert m["key_fact_recall"] == 1.0, (r.id, r.answer)
        assert m["citation_doc_precision"] == 1.0, (r.id, [c.doc_no for c in r.citations])


@pytest.mark.parametrize(
    ("question", "day", "rest"),
    [
        (
            "2015年职工医保住院最高支付限额是多少？",
            "2015-12-31",
            "职工医保住院最高支付限额是多少？",
        ),
        ("在2016年的时候，三级医院起付标准是多少？", "2016-12-31", "三级医院起付标准是多少？"),
        ("2017年3月住院能报多少？", "2017-03-31", "住院能报多少？"),
        ("嘉政发〔2014〕87号第十条规定的缴费比例是多少？", None, None),
        ("1965年出生的人什么时候退休？", None, None),
        ("《嘉兴市特殊教育提升计划（2014～2016年）》的目标是什么？", None, None),
        ("2014年和2017年的起付标准一样吗？", None, None),
    ],
)
def test_the_day_a_question_is_about(question: str, day: str | None, rest: str | None) -> None:
    got = asked_date(question)
    assert (got.isoformat() if got else None) == day
    if rest is not None:
        assert without_time(question) == rest


def test_status_set_by_hand_through_the_api(pair_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(pair_home, home)
    settings = Settings(home=home, embedder="fake", as_of=AS_OF, api_key="k")
    client = TestClient(create_api(settings))
    url = f"/api/docs/{NEW}/status"
    assert client.put(url, json={"status": "已被废止"}).status_code == 401
    h = {"X-API-Key": "k"}
    r = client.put(url, json={"status": "已被废止", "note": "2020年又有新办法"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == REPEALED and body["status_by_hand"]
    assert body["status_note"] == "2020年又有新办法"
    listed = {d["doc_no"]: d for d in client.get("/api/docs", headers=h).json()}
    assert listed[NEW]["status"] == REPEALED and listed[OLD]["status"] == REPEALED
    q = "嘉兴市职工基本医疗保险办法什么时候开始施行？"
    ans = client.post("/api/ask", json={"question": q}, headers=h)
    cite = ans.json()["citations"][0]
    assert (cite["doc_no"], cite["status"]) == (NEW, REPEALED)
    assert cite["warning"] == "该文件状态为已被废止（人工标注：2020年又有新办法）"
    bad = client.put(url, json={"status": "作废"}, headers=h)
    assert bad.status_code == 400 and "unknown status" in bad.json()["detail"]
    assert (
        client.put(
            "/api/docs/嘉政发〔2099〕1号/status", json={"status": "现行有效"}, headers=h
        ).status_code
        == 404
    )
    marks = store.load(home / "corpus.sqlite").status_marks
    assert [(m.doc_key, m.status, m.by) for m in marks] == [(NEW, REPEALED, "api")]


def test_cli_ask_prints_date_status_and_warning(pair_home: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    env = {
        "RAG_HOME": str(pair_home),
        "RAG_EMBEDDER": "fake",
        "RAG_AS_OF": AS_OF,
        "RAG_ANSWERER": "rules",
        "RAG_UNIT_WEIGHT": "0",
    }
    q = "2015年职工医保住院最高支付限额是多少？"
    r = CliRunner().invoke(app, ["ask", q], env=env)
    assert r.exit_code == 0, r.stderr
    assert (
        f"《嘉兴市人民政府关于印发嘉兴市职工基本医疗保险暂行办法的通知》  (2014-12-24  {REPEALED})"
        in r.stdout
    )
    assert f"⚠ {WARNING}" in r.stdout
    r = CliRunner().invoke(app, ["ask", q, "--json"], env=env)
    cites = json.loads(r.stdout)["citations"]
    assert {(c["doc_no"], c["date"], c["status"]) for c in cites} == {(OLD, "2014-12-24", REPEALED)}
