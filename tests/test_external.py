"""The parser for single policy files, on the nine shipped external texts and on user files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest.draft import DocDraft
from rag.ingest.external import issuer_from_doc_no, parse_date, parse_external
from rag.ingest.labels import int_to_cn

EXTERNAL = Path(__file__).resolve().parent.parent / "data" / "corpus" / "external"

pytestmark = pytest.mark.skipif(not EXTERNAL.exists(), reason="external corpus not shipped")


def parse(stem: str) -> list[DocDraft]:
    (path,) = EXTERNAL.glob(f"{stem}_*")
    return parse_external(path)


def articles(n: int) -> list[str]:
    return [f"第{int_to_cn(i)}条" for i in range(1, n + 1)]


def part_labels(doc: DocDraft, part: int = 0) -> list[str]:
    return [c.label for c in doc.parts[part][1]]


# (file stem, 文号, title, issuer, date, number of articles in the article-numbered part)
SINGLE = [
    (
        "gen01",
        "余府发〔2012〕3号",
        "新余市人民政府办公室关于印发《新余市新余市绿色建筑管理办法》的通知",
        "新余市人民政府办公室",
        "2012-01-09",
        29,
    ),
    (
        "gen02",
        "新质监办发〔2012〕24号",
        "新疆维吾尔自治区质监局关于进一步加强新闻宣传工作的通知",
        "新疆维吾尔自治区质监局",
        "",
        0,
    ),
    ("med01", "", "天津市基本医疗保险条例", "天津市人民代表大会常务委员会", "2019-12-11", 52),
    ("med02", "", "上海市医疗保障条例", "上海市人民代表大会常务委员会", "2024-12-31", 66),
    ("med03", "", "浙江省医疗保障条例", "浙江省人民代表大会常务委员会", "2021-03-26", 59),
    ("med04", "国务院令第735号", "医疗保障基金使用监督管理条例", "国务院", "2021-01-15", 50),
    (
        "med05",
        "国家医疗保障局令第1号",
        "基本医疗保险用药管理暂行办法",
        "国家医疗保障局",
        "2020-07-30",
        37,
    ),
    (
        "med06",
        "国办发〔2023〕17号",
        "关于加强医疗保障基金使用常态化监管的实施意见",
        "国务院办公厅",
        "2023-05-26",
        0,
    ),
]


@pytest.mark.parametrize(("stem", "doc_no", "title", "issuer", "date", "n_articles"), SINGLE)
def test_single_document_files(
    stem: str, doc_no: str, title: str, issuer: str, date: str, n_articles: int
) -> None:
    (doc,) = parse(stem)
    assert (doc.doc_no, doc.title, doc.issuer, doc.date) == (doc_no, title, issuer, date)
    assert doc.kind == "document"
    assert doc.source.startswith(stem)
    assert doc.parts[0][0] == title
    if n_articles:
        labels = [c.label for _, cs in doc.parts for c in cs if c.label.startswith("第")]
        assert labels == articles(n_articles)  # complete, in order, no duplicates


def test_regulations_have_chapters_as_headings() -> None:
    (doc,) = parse("med01")
    first = doc.parts[0][1][0]
    assert first.label == "第一条"
    assert first.headings == ["第一章 总则"]
    last = doc.parts[0][1][-1]
    assert last.headings == ["第八章 附则"]
    assert last.text == "第五十二条 本条例自2020年3月1日起施行。"


def test_decree_keeps_promulgation_note_and_articles_together() -> None:
    (doc,) = parse("med05")
    assert len(doc.parts) == 1
    labels = part_labels(doc)
    assert labels == ["序言", *articles(37)]
    preamble = doc.parts[0][1][0].text
    assert preamble.startswith("《基本医疗保险用药管理暂行办法》已经国家医疗保障局局务会审议通过")
    assert "胡静林" not in preamble and "2020年7月30日" not in preamble
    # PDF spaces inside words are gone.
    assert "提升基本医疗保险用药科学化" in doc.parts[0][1][1].text


def test_notice_with_attached_measures() -> None:
    (doc,) = parse("gen01")
    assert [t for t, _ in doc.parts] == [doc.title, "新余市绿色建筑管理办法"]
    (notice,) = doc.parts[0][1]
    assert notice.label == "序言"
    assert notice.text.startswith("《新余市绿色建筑管理办法》已经2011年12月20日")
    assert "二○一二年一月九日" not in notice.text
    art5 = next(c for c in doc.parts[1][1] if c.label == "第五条")
    assert "（一）新型节能建筑体系" in art5.text  # ㈠ normalised
    assert art5.headings == ["第一章 总则"]


def test_outline_document() -> None:
    (doc,) = parse("med06")
    assert part_labels(doc) == [
        "序言",
        "一、",
        *[f"二、（{int_to_cn(i)}）" for i in range(1, 6)],
        *[f"三、（{int_to_cn(i)}）" for i in range(1, 6)],
        *[f"四、（{int_to_cn(i)}）" for i in range(1, 6)],
        "五、",
    ]
    clause = next(c for c in doc.parts[0][1] if c.label == "二、（五）")
    assert clause.headings == ["二、明确各方职责"]
    # A sentence broken by the PDF is one sentence again.
    assert "加强监管能力建设" in clause.text
    assert not doc.parts[0][1][0].text.startswith("各省")  # addressees dropped


def test_notice_with_forms_attached() -> None:
    (doc,) = parse("gen02")
    assert [t for t, _ in doc.parts] == [
        doc.title,
        "自治区质量技术监督局信息宣传联络员登记表",
        "自治区质量技术监督局各单位（部门）宣传报道申报单",
        "自治区质量技术监督局协助宣传报道通知单",
    ]
    assert part_labels(doc) == ["序言", "一、", "二、", "三、", "四、", "附件"]
    annex = doc.parts[0][1][-1].text
    assert annex.splitlines()[1] == "2.自治区质监局各单位（部门）申请宣传申报单"


def test_bundle_of_three_documents() -> None:
    docs = parse("med07")
    assert [(d.doc_no, d.title, d.issuer, d.date) for d in docs] == [
        (
            "医保发〔2024〕23号",
            "定点医药机构相关人员医保支付资格管理制度的指导意见",
            "国家医保局、国家卫生健康委、国家药监局",
            "2024-08-23",
        ),
        (
            "医保发〔2025〕18号",
            "国家医疗保障局关于印发《医疗保障按病种付费管理暂行办法》的通知",
            "国家医疗保障局",
            "2025-08-11",
        ),
        (
            "医保办发〔2024〕9号",
            "国家医疗保障局办公室关于印发按病组和病种分值付费2.0版分组方案并深入推进相关工作的通知",
            "国家医疗保障局办公室",
            "2024-07-17",
        ),
    ]
    first, second, third = docs
    assert [t for t, _ in first.parts[1:]] == [
        "登记备案及登记备案状态维护",
        "记分规则（2024年版）（推荐）",
    ]
    assert part_labels(first, 2)[:3] == ["序言", "【记1—3分情形】", "【记4—6分情形】"]
    assert [t for t, _ in second.parts[1:]] == ["医疗保障按病种付费管理暂行办法"]
    assert part_labels(second, 1) == articles(39)
    assert part_labels(third)[:2] == ["序言", "一、（一）"]
    # Documents do not overlap and keep file order.
    spans = [(d.span.start_line, d.span.end_line) for d in docs if d.span]
    assert spans == sorted(spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))
    # The title prefix of the next document is not glued to the previous one.
    assert not first.parts[-1][1][-1].text.endswith("国家医疗保障局")
    assert not third.parts[0][1][-1].text.endswith("国家医疗保障局办公室")


JUNK = (
    "法宝引证码",
    "原文链接",
    "pkulaw",
    "source:",
    "INFO END",
    "<!--",
    "---",
    "office:",
    "目  录",
    "- 1 -",
    "1 -",
    "15 -",
)


@pytest.mark.parametrize("path", sorted(EXTERNAL.glob("*")), ids=lambda p: p.name[:5])
def test_no_junk_inside_clauses(path: Path) -> None:
    for doc in parse_external(path):
        assert doc.n_clauses > 0
        for _, clauses in doc.parts:
            for c in clauses:
                assert c.text.strip()
                assert not any(j in c.text for j in JUNK), (c.label, c.text[:80])
                assert c.text.splitlines()[0] != doc.title  # title lines are not clause text
                assert 1 <= c.start_line <= c.end_line
                assert len(c.text) <= 2000
                assert not any(h == "" for h in c.headings)


def test_to_document() -> None:
    docs = parse("med07")
    doc = docs[1].to_document()
    assert doc.doc_no == "医保发〔2025〕18号"
    assert doc.attachments == ["医疗保障按病种付费管理暂行办法"]
    assert [c.seq for c in doc.clauses] == list(range(len(doc.clauses)))
    art = next(c for c in doc.clauses if c.label == "第十六条")
    assert (art.part, art.part_title) == (1, "医疗保障按病种付费管理暂行办法")
    assert art.span is not None and art.span.file == doc.source
    assert doc.to_json()["n_clauses"] == 40


# --- user files -------------------------------------------------------------------------------


def test_user_markdown_without_number(tmp_path: Path) -> None:
    p = tmp_path / "my_policy.md"
    p.write_text(
        "# 某某市医疗救助办法\n\n第一条 为了保障困难群众基本医疗权益，制定本办法。\n\n"
        "第二条 本办法自2024年1月1日起施行。\n",
        encoding="utf-8",
    )
    (doc,) = parse_external(p)
    assert (doc.doc_no, doc.title, doc.source) == ("", "某某市医疗救助办法", "my_policy.md")
    assert part_labels(doc) == ["第一条", "第二条"]


def test_user_text_with_number(tmp_path: Path) -> None:
    p = tmp_path / "notice.txt"
    p.write_text(
        "某某市人民政府关于加强医疗保障工作的通知\n某政发[2024] 5 号\n"
        "各县（市、区）人民政府，市政府各部门：\n"
        "一、提高认识\n医疗保障关系人民群众切身利益。\n二、加强领导\n各地要加强组织领导。\n"
        "某某市人民政府\n2024年3月1日\n",
        encoding="utf-8",
    )
    (doc,) = parse_external(p)
    assert doc.doc_no == "某政发〔2024〕5号"
    assert doc.title == "某某市人民政府关于加强医疗保障工作的通知"
    assert (doc.issuer, doc.date) == ("某某市人民政府", "2024-03-01")
    assert part_labels(doc) == ["一、", "二、"]


def test_user_text_number_above_title(tmp_path: Path) -> None:
    p = tmp_path / "n.txt"
    p.write_text(
        "嘉政办发[2017]11 号\n\n关于金融助力制造业发展的若干意见\n一、总则\n正文。\n", "utf-8"
    )
    (doc,) = parse_external(p)
    assert (doc.doc_no, doc.title) == ("嘉政办发〔2017〕11号", "关于金融助力制造业发展的若干意见")
    assert part_labels(doc) == ["一、"]


def test_user_text_number_in_title_line(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text(
        "嘉兴市人民政府关于做好扩大有效投资工作的通知(嘉政发〔2017〕1 号)\n一、总则\n正文。\n",
        "utf-8",
    )
    (doc,) = parse_external(p)
    assert (doc.doc_no, doc.title) == (
        "嘉政发〔2017〕1号",
        "嘉兴市人民政府关于做好扩大有效投资工作的通知",
    )
    assert doc.issuer == "嘉兴市人民政府"


def test_text_argument_overrides_file(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_bytes(b"\xff\xfe not read")
    (doc,) = parse_external(p, text="某某办法\n第一条 甲。\n第二条 乙。")
    assert doc.title == "某某办法"
    assert part_labels(doc) == ["第一条", "第二条"]


def test_non_utf8_file_is_a_corpus_error(tmp_path: Path) -> None:
    p = tmp_path / "gbk.txt"
    p.write_bytes("第一条 为了规范管理。".encode("gb18030"))
    with pytest.raises(CorpusError, match=r"gbk\.txt"):
        parse_external(p)


def test_missing_file_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"nope\.txt"):
        parse_external(tmp_path / "nope.txt")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"abc\x00def"])
def test_empty_or_binary_file_is_a_corpus_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "empty.txt"
    p.write_bytes(content)
    with pytest.raises(CorpusError, match=r"empty\.txt"):
        parse_external(p)


def test_helpers() -> None:
    assert parse_date("二○一二年一月九日") == "2012-01-09"
    assert parse_date("（2019年12月11日天津市第十七届人民代表大会常务委员会第十五次会议通过）") == (
        "2019-12-11"
    )
    assert parse_date("无日期") == ""
    assert issuer_from_doc_no("国办发〔2023〕17号") == "国务院办公厅"
    assert issuer_from_doc_no("国家医疗保障局令第1号") == "国家医疗保障局"
    assert issuer_from_doc_no("某某〔2023〕1号") == ""
