"""File formats: the same document gives the same clauses as PDF, Word, HTML and OFD.

The fixtures are rendered here, once per session, from shipped corpus documents
(rag.bench.render): typeset PDF pages with a running header and page numbers (one and two
columns), a Word file with header, footer and (once) Word-generated article numbers, a
government site's page around the text (UTF-8 and GBK), an OFD package, and a scanned
page for OCR. Each is parsed by the ingest pipeline and compared with the document as
parsed from its shipped text file. Rendering takes a few seconds; the OCR test about ten.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.bench import render
from rag.cli import app
from rag.ingest import store
from rag.ingest.pipeline import parse_file
from rag.ingest.store import Corpus
from rag.models import Document

runner = CliRunner()

# A 第X条 办法 from the mojibake two-column 2014 gazette, an outline-numbered 2017 plan, a
# 2017 plan with 专栏 boxes and 1. items, an external State Council opinion, and a notice
# attaching four texts.
DOCS = {
    "87": "嘉政发〔2014〕87号",
    "13": "嘉政办发〔2017〕13号",
    "15": "嘉政办发〔2017〕15号",
    "gb17": "国办发〔2023〕17号",
    "112": "嘉政办发〔2014〕112号",
}
# (fixture name, document, kind)
CASES = [
    ("87.pdf", "87", "pdf"),
    ("87_2col.pdf", "87", "pdf2"),
    ("87.docx", "87", "docx"),
    ("87_numbered.docx", "87", "docx_numbered"),
    ("87.html", "87", "html"),
    ("87.ofd", "87", "ofd"),
    ("13.pdf", "13", "pdf"),
    ("13.docx", "13", "docx"),
    ("13_gbk.html", "13", "html_gbk"),
    ("13.ofd", "13", "ofd"),
    ("15_2col.pdf", "15", "pdf2"),
    ("15.docx", "15", "docx"),
    ("15.html", "15", "html"),
    ("15.ofd", "15", "ofd"),
    ("gb17.pdf", "gb17", "pdf"),
    ("gb17.html", "gb17", "html"),
    ("gb17.ofd", "gb17", "ofd"),
    ("112.pdf", "112", "pdf"),
    ("112.docx", "112", "docx"),
]


@pytest.fixture(scope="session")
def font(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    found = render.cjk_font()
    if found is None:
        pytest.skip("no CJK font installed (make test installs fonts-wqy-zenhei)")
    texts = [corpus.get(no).text for no in [*DOCS.values(), "嘉政办发〔2014〕101号"]]
    return render.subset_font(found, texts, tmp_path_factory.mktemp("font") / "cjk.ttf")


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus, font: Path) -> Path:
    """Every fixture file of CASES, rendered once."""
    out = tmp_path_factory.mktemp("formats")
    for name, key, kind in CASES:
        paras = render.doc_paragraphs(corpus.get(DOCS[key]))
        path = out / name
        if kind == "pdf":
            render.write_pdf(paras, path, font)
        elif kind == "pdf2":
            render.write_pdf(paras, path, font, columns=2)
        elif kind == "docx":
            render.write_docx(paras, path)
        elif kind == "docx_numbered":
            render.write_docx(paras, path, auto_numbers=True)
        elif kind == "html":
            render.write_html(paras, path)
        elif kind == "html_gbk":
            render.write_html(paras, path, encoding="gbk")
        else:
            render.write_ofd(paras, path, font)
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _assert_same(got: Document, want: Document) -> None:
    assert got.doc_no == want.doc_no
    assert got.title == want.title
    assert got.date == want.date
    assert got.attachments == want.attachments
    assert [(c.part, c.label) for c in got.clauses] == [(c.part, c.label) for c in want.clauses]
    for a, b in zip(got.clauses, want.clauses, strict=True):
        if (b.part, b.label) == (0, "序言"):
            # the gazette parser keeps the addressee line in the notice's preamble
            assert _squash(b.text).endswith(_squash(a.text))
        else:
            assert _squash(a.text) == _squash(b.text), b.label


@pytest.mark.parametrize(("name", "key"), [(n, k) for n, k, _ in CASES])
def test_same_document_gives_same_clauses_whatever_the_format(
    fixtures: Path, corpus: Corpus, name: str, key: str
) -> None:
    _, docs, _ = parse_file(fixtures / name)
    assert len(docs) == 1
    _assert_same(docs[0], corpus.get(DOCS[key]))


@pytest.mark.parametrize("name", ["87.pdf", "87_2col.pdf", "15_2col.pdf", "87.ofd", "87.docx"])
def test_running_headers_and_page_numbers_are_removed(fixtures: Path, name: str) -> None:
    src, docs, _ = parse_file(fixtures / name)
    assert render.RUNNING_HEAD not in src.raw_text
    assert not re.search(r"^-\s*\d+\s*-$", src.raw_text, re.M)
    for c in docs[0].clauses:
        assert "公报" not in c.text and not re.search(r"-\s*\d+\s*-", c.text)


def test_two_column_pdf_is_read_column_by_column(fixtures: Path) -> None:
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(fixtures / "87_2col.pdf")[1]
    w, h = page.get_size()
    text = page.get_textpage()
    left = text.get_text_bounded(0, h * 0.3, w / 2, h * 0.7)
    right = text.get_text_bounded(w / 2, h * 0.3, w, h * 0.7)
    assert len(_squash(left)) > 200 and len(_squash(right)) > 200  # two columns side by side
    _, docs, _ = parse_file(fixtures / "87_2col.pdf")
    # an article that runs from the left column into the right one reads whole
    art = next(c for c in docs[0].clauses if c.label == "第十条")
    assert "适时将统账一过渡到统账二" in _squash(art.text)
    assert "过渡期内" in art.text


def test_html_keeps_main_content_only(fixtures: Path) -> None:
    src, docs, _ = parse_file(fixtures / "87.html")
    for chrome in (
        "首页",
        "当前位置",
        "分享到",
        "打印本页",
        "相关文件",
        "ICP备",
        "发布时间",
        "浏览次数",
    ):
        assert chrome not in src.raw_text, chrome
    # a paragraph printed twice in the text (under 第二十三条 and 第二十四条) is kept twice
    rule = "由统筹基金按以下比例支付"
    assert sum(rule in c.text for c in docs[0].clauses) == 2


def test_cli_ingests_each_format_into_a_fresh_store(fixtures: Path, tmp_path: Path) -> None:
    files = [fixtures / n for n in ("87.pdf", "13.docx", "15.ofd", "gb17.html")]
    r = runner.invoke(app, ["ingest", *map(str, files)], env={"RAG_HOME": str(tmp_path)})
    assert r.exit_code == 0, r.stderr
    assert "87.pdf: 1 documents, 56 clauses" in r.stdout
    r = runner.invoke(app, ["docs", "--json"], env={"RAG_HOME": str(tmp_path)})
    docs = {d["doc_no"]: d for d in json.loads(r.stdout)}
    assert set(docs) == set(DOCS.values()) - {"嘉政办发〔2014〕112号"}
    assert docs["嘉政办发〔2017〕13号"]["source"] == "13.docx"
    r = runner.invoke(app, ["show", "嘉政发[2014]87号", "第14条"], env={"RAG_HOME": str(tmp_path)})
    assert r.exit_code == 0 and "男满25年" in _squash(r.stdout)
    assert "87.pdf:" in r.stdout  # the source span names the file


@pytest.mark.slow
def test_scanned_pdf_is_read_by_ocr(corpus: Corpus, font: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    want = corpus.get("嘉政办发〔2014〕101号")
    path = render.write_scanned_pdf(render.doc_paragraphs(want), tmp_path / "scan.pdf", font)
    _, docs, warnings = parse_file(path)
    assert any("OCR" in w for w in warnings)
    got = docs[0]
    assert (got.doc_no, got.title, got.date) == (want.doc_no, want.title, want.date)
    assert [c.label for c in got.clauses] == [c.label for c in want.clauses]
    from rapidfuzz import fuzz

    assert fuzz.ratio(_squash(got.clauses[1].text), _squash(want.clauses[1].text)) > 95


# --- bad files: one line, exit 1, the store untouched ---------------------------------------


@pytest.fixture()
def home(tmp_path: Path, shipped_home: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    shutil.copy(shipped_home / "corpus.sqlite", h / "corpus.sqlite")
    return h


def _ingest_fails(home: Path, path: Path, expect: str, **env: str) -> None:
    db = home / "corpus.sqlite"
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    r = runner.invoke(app, ["ingest", str(path)], env={"RAG_HOME": str(home), **env})
    assert r.exit_code == 1
    lines = [s for s in r.stderr.splitlines() if s.strip()]  # the progress bar leaves a blank
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert expect in lines[0] and path.name in lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


def test_encrypted_pdf(home: Path, corpus: Corpus, font: Path, tmp_path: Path) -> None:
    paras = render.doc_paragraphs(corpus.get("嘉政发〔2014〕87号"))
    path = render.write_encrypted_pdf(paras, tmp_path / "locked.pdf", font)
    _ingest_fails(home, path, "encrypted")


def test_scanned_pdf_without_ocr(home: Path, corpus: Corpus, font: Path, tmp_path: Path) -> None:
    paras = render.doc_paragraphs(corpus.get("嘉政办发〔2014〕101号"))
    path = render.write_scanned_pdf(paras, tmp_path / "scan.pdf", font, dpi=50)
    _ingest_fails(home, path, "no text layer", RAG_OCR="off")


def test_corrupt_docx(home: Path, fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes((fixtures / "87.docx").read_bytes()[:3000])  # a truncated zip
    _ingest_fails(home, path, "not a readable Word .docx file")


def test_corrupt_pdf_and_ofd(home: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "broken.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + b"garbage" * 100)
    _ingest_fails(home, pdf, "not a readable PDF")
    ofd = tmp_path / "broken.ofd"
    ofd.write_bytes(b"PK\x03\x04 not really a zip")
    _ingest_fails(home, ofd, "not a readable OFD file")


def test_file_over_the_size_limit(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    with path.open("wb") as f:  # 200 MB, sparse: nothing is written or read
        f.truncate(200 * 1024 * 1024)
    _ingest_fails(home, path, "over the 100 MB limit")
    small = tmp_path / "small.txt"
    small.write_text(
        "某市门诊管理办法\n第一条 为规范管理，制定本办法。\n" * 40000, encoding="utf-8"
    )
    _ingest_fails(home, small, "over the 1 MB limit", RAG_MAX_FILE_MB="1")


def test_unsupported_type(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "old.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    _ingest_fails(home, path, "cannot be ingested (supported: .txt, .md, .pdf, .docx")


def test_text_without_a_recognisable_document(home: Path, font: Path, tmp_path: Path) -> None:
    prose = [
        render.Para("今天天气很好，我们去公园散步，看到了很多花。", "body"),
        render.Para("晚上回家做了饭，吃完以后看了一会儿书，然后就睡觉了。", "body"),
    ]
    _ingest_fails(home, render.write_pdf(prose, tmp_path / "diary.pdf", font), "no policy document")
    txt = tmp_path / "diary.txt"
    txt.write_text("\n".join(p.text for p in prose), encoding="utf-8")
    _ingest_fails(home, txt, "no policy document")


def test_bad_file_among_good_ones_keeps_the_good(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.docx"
    bad.write_bytes(b"not a zip")
    good = render.write_docx(
        [
            render.Para("某市门诊慢性病管理办法", "title"),
            render.Para("某政发〔2020〕5号", "center"),
            render.Para("第一条 为规范门诊慢性病管理，制定本办法。"),
            render.Para("第二条 门诊慢性病起付标准为每年300元，报销比例为60%。"),
        ],
        tmp_path / "mine.docx",
    )
    r = runner.invoke(app, ["ingest", str(bad), str(good)], env={"RAG_HOME": str(home)})
    assert r.exit_code == 1 and "broken.docx" in r.stderr
    assert len([s for s in r.stderr.splitlines() if s.strip()]) == 1
    assert "mine.docx: 1 documents, 2 clauses" in r.stdout
    corpus = store.load(home / "corpus.sqlite")
    assert [c.label for c in corpus.get("某政发〔2020〕5号").clauses] == ["第一条", "第二条"]
    assert corpus.get("嘉政发〔2014〕87号").source.startswith("003_")


def test_clean_prints_the_text_of_any_format(fixtures: Path, tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["clean", str(fixtures / "87_2col.pdf")], env={"RAG_HOME": str(tmp_path)}
    )
    assert r.exit_code == 0
    assert "嘉政发〔2014〕87号" in r.stdout and "第十四条" in r.stdout
    assert render.RUNNING_HEAD not in r.stdout
