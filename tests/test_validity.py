"""Validity read off the shipped texts: 施行 dates, expiry, 试行/暂行, repeals; the status as
of a date; statuses set by hand; the corpus store's format 2 (and reading format 1)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.errors import CorpusError, InputError
from rag.ingest import store
from rag.ingest.pipeline import ingest
from rag.ingest.store import Corpus
from rag.ingest.validity import (
    new_mark,
    read_effective,
    read_expiry,
    read_repeals,
    read_validity,
    sentences,
)
from rag.models import EXPIRED, IN_FORCE, NOT_YET, REPEALED, UNSTATED
from rag.settings import SHIPPED_CORPUS, Settings

AS_OF = date(2026, 12, 3)
GAZETTE_2014 = SHIPPED_CORPUS / "003_0e8310ee3ea63b6f.txt"
runner = CliRunner()

# Every printed document of the shipped corpus that says anything about its validity, as
# read by hand from the text (see the docstring of test_every_shipped_document):
# key → (effective, expires, trial, repealed 文号, status on 2026-12-03)
EXPECTED = {
    "嘉政发〔2014〕85号": (
        "2015-01-22",
        "",
        False,
        [],
        IN_FORCE,
    ),  # 第三十二条 …2015年1月22日后实施
    "嘉政发〔2014〕86号": (
        "2015",
        "",
        False,
        [],
        IN_FORCE,
    ),  # 本意见自2015年月日起施行 (digits lost)
    "嘉政发〔2014〕87号": (
        "2015",
        "",
        True,
        ["嘉政发〔2001〕112号", "嘉政办发〔2001〕113号"],
        IN_FORCE,
    ),
    "嘉政办发〔2014〕99号": ("2014-10-31", "", True, [], IN_FORCE),  # 自印发之日起实施
    "嘉政办发〔2014〕101号": ("2015-01-01", "", False, [], IN_FORCE),  # 自…起执行
    "嘉政办发〔2014〕106号": ("2015-01-15", "", False, [], IN_FORCE),
    "嘉政办发〔2014〕110号": ("2015-02-01", "", False, [], IN_FORCE),
    "嘉政办发〔2014〕111号": ("", "", True, [], UNSTATED),  # 暂行办法 without a 施行 article
    "嘉政办发〔2014〕112号": ("2015-01-15", "", False, ["嘉政发〔2007〕84号"], IN_FORCE),
    "余府发〔2012〕3号": ("2012-02-01", "2017-01-31", False, [], EXPIRED),
    "天津市基本医疗保险条例": ("2020-03-01", "", False, [], IN_FORCE),
    "上海市医疗保障条例": ("2025-03-01", "", False, [], IN_FORCE),
    "浙江省医疗保障条例": ("2021-07-01", "", False, [], IN_FORCE),
    "国务院令第735号": ("2021-05-01", "", False, [], IN_FORCE),
    "国家医疗保障局令第1号": ("2020-09-01", "", True, [], IN_FORCE),  # preamble: 现予公布，自…
    "医保发〔2025〕18号": ("2025-08-11", "", True, [], IN_FORCE),  # 自下发之日起施行
}


def test_every_shipped_document(corpus: Corpus) -> None:
    """The validity of every printed document of the shipped corpus, as read by hand.

    Each text was searched for 施行, 实施, 执行, 试行, 暂行, 生效, 有效期, 废止, 失效,
    停止执行, 之日起 and its last two clauses were read; the documents not in EXPECTED
    say nothing about their own validity (未注明, not 试行/暂行).
    """
    seen = set()
    for d in corpus.printed():
        got = (d.effective, d.expires, d.trial, [r.doc_no for r in d.supersedes])
        want = EXPECTED.get(d.key, ("", "", False, [], UNSTATED))
        assert (*got, d.status_on(AS_OF)) == want, d.key
        assert d.superseded_by == []  # no repealed document of the corpus is in it
        seen.add(d.key)
    assert set(EXPECTED) <= seen


def test_87_reads_the_article_of_the_attached_banfa(corpus: Corpus) -> None:
    d = corpus.get("嘉政发〔2014〕87号")
    r = read_validity(d)
    assert r.effective == "2015" and r.trial  # "本办法自2015年起试行": year precision only
    assert r.evidence[0] == "嘉兴市职工基本医疗保险暂行办法 第五十一条 本办法自2015年起试行。"
    full, part = r.supersedes
    assert (full.doc_no, full.title, full.partial) == (
        "嘉政发〔2001〕112号",
        "嘉兴市城镇职工基本医疗保险暂行规定",
        "",
    )
    assert part.doc_no == "嘉政办发〔2001〕113号" and part.partial == "除附件7-9外"
    assert d.to_json(AS_OF)["supersedes"][1] == {
        "doc_no": "嘉政办发〔2001〕113号",
        "title": "嘉兴市城镇职工基本医疗保险暂行规定有关配套文件的通知",
        "partial": "除附件7-9外",
    }


def test_sentences_about_other_texts_are_not_read(corpus: Corpus) -> None:
    # 98号: "自2014年10月31日起，全市范围内暂时停止施行《浙江省流动人口居住登记条例》…"
    d98 = corpus.get("嘉政办发〔2014〕98号")
    suspend = next(s for c in d98.clauses for s in sentences(c.text) if "停止施行" in s)
    assert read_effective(suspend, d98.date) is None
    # NHSA 令第1号 第十八条: an agreement's term, not the decree's
    nhsa = corpus.get("国家医疗保障局令第1号")
    term = next(s for c in nhsa.clauses for s in sentences(c.text) if "协议有效期为两年" in s)
    assert read_expiry(term, "2020-09-01") == ""
    # 医保发〔2024〕23号: "2025年正式实施" is the rollout of a scheme, not 本意见's 施行
    assert corpus.get("医保发〔2024〕23号").effective == ""


def test_status_as_of_other_days(corpus: Corpus) -> None:
    xinyu = corpus.get("余府发〔2012〕3号")
    assert xinyu.status_on(date(2012, 1, 31)) == NOT_YET
    assert xinyu.status_on(date(2012, 2, 1)) == IN_FORCE
    assert xinyu.status_on(date(2017, 1, 31)) == IN_FORCE
    assert xinyu.status_on(date(2017, 2, 1)) == EXPIRED
    d87 = corpus.get("嘉政发〔2014〕87号")  # "2015": in force from the first day of 2015
    assert d87.status_on(date(2014, 12, 31)) == NOT_YET
    assert d87.status_on(date(2015, 1, 1)) == IN_FORCE


@pytest.mark.parametrize(
    ("sentence", "want"),
    [
        ("本规定自二〇一五年一月一日起施行。", ("2015-01-01", "", False)),
        ("本办法自发布之日起施行，有效期5年。", ("2016-03-08", "", False)),
        ("本意见从2016年3月起试行。", ("2016-03", "", True)),
        ("本办法自2016年1月1日起至2018年12月31日止施行。", ("2016-01-01", "2018-12-31", False)),
    ],
)
def test_effective_forms_the_corpus_lacks(sentence: str, want: tuple[str, str, bool]) -> None:
    assert read_effective(sentence, "2016-03-08") == want


@pytest.mark.parametrize(
    ("sentence", "start", "want"),
    [
        ("本办法自2016年1月1日起施行，有效期5年。", "2016-01-01", "2020-12-31"),
        ("本意见有效期为三年。", "2016-03", "2019-02"),
        ("本办法自2016年起施行，有效期两年。", "2016", "2017"),
        ("本通知有效期至2020年12月31日。", "", "2020-12-31"),
        ("项目核准文件有效期为2年。", "2016-01-01", ""),  # not about the text itself
    ],
)
def test_expiry_forms(sentence: str, start: str, want: str) -> None:
    assert read_expiry(sentence, start) == want


def test_repeal_forms() -> None:
    refs = read_repeals(
        "《嘉兴市某某管理办法》第十条、第十一条同时废止，嘉政办发〔2010〕5号不再执行。"
    )
    assert [(r.doc_no, r.title, r.partial) for r in refs] == [
        ("", "嘉兴市某某管理办法", "第十条、第十一条"),
        ("嘉政办发〔2010〕5号", "", ""),
    ]
    assert read_repeals("按照《社会保险法》执行。") == []


def test_hand_set_status_is_checked(corpus: Corpus) -> None:
    d = corpus.get("嘉政发〔2014〕87号")
    assert new_mark(d, "已被废止", "新办法已印发").status == REPEALED
    assert new_mark(d, "auto").status == ""
    with pytest.raises(InputError, match="unknown status"):
        new_mark(d, "作废")
    with pytest.raises(InputError, match="RAG_AS_OF"):
        _ = Settings(as_of="2026/12/03").as_of_date


# -- the store --------------------------------------------------------------------------


def _downgrade_to_format_1(path: Path) -> None:
    """Rewrite a store as format 1 wrote it: no validity columns, no status marks."""
    con = sqlite3.connect(path)
    with con:
        for col in ("effective", "expires", "trial", "supersedes", "validity_evidence"):
            con.execute(f"ALTER TABLE documents DROP COLUMN {col}")
        con.execute("DROP TABLE status_marks")
        con.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    con.close()


def test_store_keeps_validity_and_marks(corpus: Corpus, tmp_path: Path) -> None:
    path = tmp_path / "corpus.sqlite"
    # a new Corpus over the shared documents: saving reads them, nothing changes them
    marked = Corpus(list(corpus.documents), dict(corpus.sources), list(corpus.status_marks))
    marked.status_marks.append(new_mark(marked.get("嘉政办发〔2014〕99号"), "已过有效期", "新预案"))
    store.save(marked, path)
    back = store.load(path)
    d99 = back.get("嘉政办发〔2014〕99号")
    assert d99.status_on(AS_OF) == EXPIRED and d99.status_mark is not None
    assert d99.status_mark.note == "新预案" and d99.status_on(AS_OF, by_hand=False) == IN_FORCE
    light = store.load(path, documents_only=True).get("嘉政发〔2014〕87号")
    assert (light.effective, light.trial, light.clauses) == ("2015", True, [])
    # ingesting the same file again keeps the marks (nothing stored is lost)
    again, _ = ingest([GAZETTE_2014], back)
    assert again.get("嘉政办发〔2014〕99号").status_on(AS_OF) == EXPIRED
    assert again.status_marks == back.status_marks


def test_format_1_store_is_read_and_upgraded(shipped_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "corpus.sqlite"
    shutil.copy(shipped_home / "corpus.sqlite", path)
    want = [d.to_json(AS_OF) for d in store.load(path).documents]
    _downgrade_to_format_1(path)
    old = store.load(path)
    assert old.upgraded_from == 1
    assert [d.to_json(AS_OF) for d in old.documents] == want
    code, out, err = _run(tmp_path, "ingest", str(GAZETTE_2014))
    assert code == 0, err
    assert f"store upgraded from format 1 to {store.SCHEMA_VERSION}" in out
    assert store.load(path).upgraded_from is None


def test_store_of_an_unknown_format_is_one_line_error(shipped_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "corpus.sqlite"
    shutil.copy(shipped_home / "corpus.sqlite", path)
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE meta SET value='9' WHERE key='schema_version'")
    con.close()
    with pytest.raises(CorpusError, match="has format 9"):
        store.load(path)
    code, _, err = _run(tmp_path, "docs")
    assert code == 1 and "has format 9" in err and err.count("\n") == 1


# -- the CLI ----------------------------------------------------------------------------


def _run(home: Path, *args: str, as_of: str = "2026-12-03") -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), env={"RAG_HOME": str(home), "RAG_AS_OF": as_of})
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture()
def home(tmp_path: Path, shipped_home: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    shutil.copy(shipped_home / "corpus.sqlite", h / "corpus.sqlite")
    return h


def test_docs_json_has_the_validity_fields(home: Path) -> None:
    code, out, _ = _run(home, "docs", "--json")
    assert code == 0
    docs = {d["doc_no"] or d["title"]: d for d in json.loads(out)}
    d = docs["余府发〔2012〕3号"]
    assert (d["effective"], d["expires"], d["trial"], d["status"]) == (
        "2012-02-01",
        "2017-01-31",
        False,
        EXPIRED,
    )
    assert d["supersedes"] == [] and d["superseded_by"] == [] and not d["status_by_hand"]
    assert docs["嘉政发〔2017〕1号"]["effective"] is None
    assert docs["嘉政发〔2017〕1号"]["status"] == UNSTATED
    code, out, _ = _run(home, "docs", "--json", as_of="2016-01-01")
    assert {d["doc_no"]: d["status"] for d in json.loads(out)}["余府发〔2012〕3号"] == IN_FORCE


def test_show_prints_the_validity(home: Path) -> None:
    code, out, _ = _run(home, "show", "嘉政发[2014]87号")
    assert code == 0
    assert "status 现行有效 as of 2026-12-03" in out
    assert "effective 2015  expires -  trial yes" in out
    assert (
        "嘉政办发〔2001〕113号 《嘉兴市城镇职工基本医疗保险暂行规定有关配套文件的通知》"
        " (除附件7-9外)" in out
    )
    assert "read from: 嘉兴市职工基本医疗保险暂行办法 第五十一条 本办法自2015年起试行。" in out


def test_set_status_by_hand_is_recorded_and_shown(home: Path) -> None:
    code, out, err = _run(
        home, "docs", "--set-status", "嘉政发〔2014〕87号", "已被废止", "--note", "已有新办法"
    )
    assert code == 0, err
    assert "嘉政发〔2014〕87号: 已被废止 (set by hand)" in out
    code, out, _ = _run(home, "docs", "--json")
    d87 = next(d for d in json.loads(out) if d["doc_no"] == "嘉政发〔2014〕87号")
    assert (
        d87["status"] == REPEALED and d87["status_by_hand"] and d87["status_note"] == "已有新办法"
    )
    code, out, _ = _run(home, "show", "嘉政发〔2014〕87号")
    assert "status 已被废止 (set by hand" in out and "已有新办法" in out
    code, out, _ = _run(home, "docs", "--set-status", "嘉政发〔2014〕87号", "auto")
    assert code == 0 and "现行有效" in out
    marks = store.load(home / "corpus.sqlite").status_marks
    assert [(m.status, m.note, m.by) for m in marks] == [
        (REPEALED, "已有新办法", "cli"),
        ("", "", "cli"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("docs", "--set-status", "嘉政发〔2014〕87号", "作废"), "unknown status '作废'"),
        (("docs", "--set-status", "嘉政发〔2014〕999号", "现行有效"), "unknown document"),
        (("docs", "--set-status", "嘉政发〔2014〕89号", "现行有效"), "contents page only"),
        (("docs", "--note", "x"), "--note goes with --set-status"),
    ],
)
def test_bad_status_input_is_one_line_error(
    home: Path, args: tuple[str, ...], message: str
) -> None:
    before = (home / "corpus.sqlite").read_bytes()
    code, _, err = _run(home, *args)
    assert code == 1 and message in err and err.count("\n") == 1
    assert (home / "corpus.sqlite").read_bytes() == before


def test_bad_as_of_is_one_line_error(home: Path) -> None:
    code, _, err = _run(home, "docs", as_of="yesterday")
    assert code == 1 and "RAG_AS_OF must be a date YYYY-MM-DD" in err and err.count("\n") == 1
