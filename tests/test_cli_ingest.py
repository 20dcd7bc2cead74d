"""The ingestion commands: ingest, clean, docs, show — on real files, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.ingest import store
from rag.settings import SHIPPED_CORPUS

GAZETTE_2017 = SHIPPED_CORPUS / "000_d3b6ddc9e5e8e6fc.txt"
GAZETTE_2014 = SHIPPED_CORPUS / "003_0e8310ee3ea63b6f.txt"

runner = CliRunner()


def run(home: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), env={"RAG_HOME": str(home)})
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture()
def home(tmp_path: Path, shipped_home: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    shutil.copy(shipped_home / "corpus.sqlite", h / "corpus.sqlite")
    return h


def test_docs_json_shape(home: Path) -> None:
    code, out, _ = run(home, "docs", "--json")
    assert code == 0
    docs = json.loads(out)
    keys = {"doc_no", "title", "issuer", "date", "kind", "printed", "source", "attachments"}
    assert all(keys | {"n_clauses", "clause_labels"} <= set(d) for d in docs)
    d87 = next(d for d in docs if d["doc_no"] == "嘉政发〔2014〕87号")
    assert d87["n_clauses"] == len(d87["clause_labels"]) and "第十四条" in d87["clause_labels"]
    assert any(not d["printed"] for d in docs)
    assert any(d["doc_no"] == "" and d["title"] == "天津市基本医疗保险条例" for d in docs)


@pytest.mark.parametrize("label", ["第十四条", "第14条", "14", "十四"])
@pytest.mark.parametrize("doc", ["嘉政发〔2014〕87号", "嘉政发[2014]87号", "嘉政发〔2014〕 87 号"])
def test_show_accepts_label_and_number_variants(home: Path, doc: str, label: str) -> None:
    code, out, err = run(home, "show", doc, label)
    assert code == 0, err
    assert out.startswith("嘉政发〔2014〕87号 第十四条")
    assert "男满25年" in out.replace(" ", "")
    assert "003_0e8310ee3ea63b6f.txt:" in out  # the source span


def test_show_document_without_number_by_title(home: Path) -> None:
    code, out, _ = run(home, "show", "天津市基本医疗保险条例", "第一条")
    assert code == 0 and "第一条" in out


def test_show_unknown_document_and_clause_are_one_line_errors(home: Path) -> None:
    code, _, err = run(home, "show", "嘉政发〔2014〕999号")
    assert code != 0 and err.count("\n") == 1 and "unknown document" in err
    code, _, err = run(home, "show", "嘉政发〔2014〕87号", "第九十九条")
    assert code != 0 and err.count("\n") == 1 and "no clause" in err


def test_ingest_same_file_twice_changes_nothing(home: Path) -> None:
    before = [d.to_json() for d in store.load(home / "corpus.sqlite").documents]
    code, out, _ = run(home, "ingest", str(GAZETTE_2014))
    assert code == 0 and "28 documents" in out
    after = [d.to_json() for d in store.load(home / "corpus.sqlite").documents]
    assert sorted(map(json.dumps, before)) == sorted(map(json.dumps, after))


def test_non_utf8_file_is_one_line_error_and_corpus_kept(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("嘉兴市人民政府关于印发的通知".encode("gb18030"))
    before = store.load(home / "corpus.sqlite")
    code, out, err = run(home, "ingest", str(bad), str(GAZETTE_2017))
    assert code != 0
    assert "gbk.txt" in err and "UTF-8" in err and "Traceback" not in err
    assert "000_d3b6ddc9e5e8e6fc.txt: 14 documents" in out
    after = store.load(home / "corpus.sqlite")
    assert len(after.documents) == len(before.documents)


def test_ingest_user_file_adds_a_document(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "my_policy.md"
    f.write_text(
        "# 某市门诊慢性病管理办法\n\n（某政发〔2020〕5 号）\n\n"
        "第一条 为规范门诊慢性病管理，制定本办法。\n\n"
        "第二条 门诊慢性病起付标准为每年300元，报销比例为60%。\n",
        encoding="utf-8",
    )
    code, _, err = run(home, "ingest", str(f))
    assert code == 0, err
    code, out, _ = run(home, "show", "某政发〔2020〕5号", "2")
    assert code == 0 and "300元" in out


def test_unreadable_store_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "corpus.sqlite").write_bytes(b"not a database" * 100)
    code, _, err = run(tmp_path, "docs")
    assert code != 0 and "damaged" in err and err.count("\n") == 1


def test_clean_repairs_the_2014_gazette_and_keeps_the_2017_one(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "clean", str(GAZETTE_2014))
    assert code == 0
    assert "嘉政发〔2014〕87号" in out and "嘉政发也2014页87号" not in out
    assert "适时将统账一过渡到统账二" in out  # layout repaired: the article reads whole
    code, out2, _ = run(tmp_path, "clean", str(GAZETTE_2017))
    assert code == 0

    def cjk_and_punct(s: str) -> str:
        return "".join(ch for ch in s if (not ch.isspace() and not ch.isascii()) or ch in ",.;:()")

    assert cjk_and_punct(out2) == cjk_and_punct(GAZETTE_2017.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("doc", "label", "head", "text", "sibling"),
    [
        (
            "嘉政发〔2014〕88号",
            "三、（一）3.",
            "（一）创新城镇化建设投融资体制",
            "创新多样化的金融服务",
            "拓展多元化",
        ),
        (
            "嘉政办发〔2014〕99号",
            "4.3.2.4(3)",
            "4.3.2.4 Ⅰ级响应",
            "强制性污染减排措施",
            "健康防护措施",
        ),
        ("嘉政发[2014]87号", "第二十条第四项", "第二十条", "预防性免疫疫苗费用", "挂号费"),
        (
            "嘉政办发〔2014〕99号",
            "3.3.2（1）",
            "3.3 预警启动与发布",
            "市级预警由市指挥部发布",
            "县（市、区）预警发布",
        ),
    ],
)
def test_show_finds_items_nested_in_a_clause(
    home: Path, doc: str, label: str, head: str, text: str, sibling: str
) -> None:
    # Retrieval keeps the clause as its unit; `rag show` reaches the items inside it.
    code, out, err = run(home, "show", doc, label)
    assert code == 0, err
    first, context, *body = out.splitlines()
    assert "003_0e8310ee3ea63b6f.txt:" in first  # the span of the clause holding it
    assert head in context
    assert text in "".join(body) and sibling not in "".join(body)
