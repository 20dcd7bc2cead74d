"""Chinese numerals, line-start markers, 文号 and clause-label canonicalisation."""

from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.ingest.docno import DOCNO_RE, canonical_doc_no, find_doc_nos, is_doc_no
from rag.ingest.labels import (
    canonical_clause_query,
    cn_to_int,
    int_to_cn,
    label_matches,
    parse_marker,
    same_top_unit,
    split_label,
)

# --- numerals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cn", "n"),
    [
        ("一", 1),
        ("十", 10),
        ("十四", 14),
        ("二十", 20),
        ("二十三", 23),
        ("九十九", 99),
        ("一百", 100),
        ("一百零五", 105),
        ("一百一十", 110),
        ("两百", 200),
        ("一千零一", 1001),
        ("二〇一二", 2012),
        ("二○一四", 2014),
        ("23", 23),
        ("２３", 23),
    ],
)
def test_cn_to_int(cn: str, n: int) -> None:
    assert cn_to_int(cn) == n


@pytest.mark.parametrize("bad", ["", "条", "十十", "abc", "一二十"])
def test_cn_to_int_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        cn_to_int(bad)


def test_int_to_cn_examples() -> None:
    assert int_to_cn(14) == "十四"
    assert int_to_cn(10) == "十"
    assert int_to_cn(23) == "二十三"
    assert int_to_cn(105) == "一百零五"
    assert int_to_cn(110) == "一百一十"


def test_numeral_round_trip() -> None:
    for n in range(0, 2000):
        assert cn_to_int(int_to_cn(n)) == n


# --- markers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind", "comp"),
    [
        ("第一条 为了规范", "article", "第一条"),
        ("第二十三条　参保人员", "article", "第二十三条"),
        ("第14条 本办法", "article", "第十四条"),
        ("第一章　总  则", "chapter", "第一章"),
        ("第二节 基金管理", "chapter", "第二节"),
        ("一、总体要求", "cn", "一、"),
        ("十二、附则", "cn", "十二、"),
        ("（一）强化监管", "pcn", "（一）"),
        ("(三)推进改革", "pcn", "（三）"),
        ("1. 优化流程", "ar", "1."),
        ("2．深化改革", "ar", "2."),
        ("3、加强领导", "ar", "3."),
        ("（1）以人为本", "par", "（1）"),
        ("(12)其他", "par", "（12）"),
        ("1.1 编制目的", "dec", "1.1"),
        ("4.3.2.1 响应措施", "dec", "4.3.2.1"),
        ("2 应急组织体系及职责", "dec", "2"),
        ("专栏 12 智慧教育", "box", "专栏12"),
        ("专栏7:国家新型城镇化", "box", "专栏7"),
        ("【登记备案要求】定点医药机构", "bracket", "【登记备案要求】"),
    ],
)
def test_parse_marker(line: str, kind: str, comp: str) -> None:
    m = parse_marker(line)
    assert m is not None
    assert (m.kind, m.comp) == (kind, comp)


@pytest.mark.parametrize(
    "line",
    [
        "第十条规定的情形",  # a reference at a line start (broken line)
        "第二章规定的",
        "一、二级医院",  # two numerals, not an item
        "2014.",
        "3.5%以上",
        "10.5%",
        "2、3月份完成",
        "普通文字",
        "",
    ],
)
def test_parse_marker_rejects_false_markers(line: str) -> None:
    assert parse_marker(line) is None


def test_article_marker_records_separator() -> None:
    with_sep = parse_marker("第十条 本办法")
    without = parse_marker("第十条本办法")
    assert with_sep is not None and with_sep.sep
    assert without is not None and not without.sep


# --- clause queries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("第14条", "第十四条"),
        ("第十四条", "第十四条"),
        ("14", "第十四条"),
        ("十四", "第十四条"),
        ("１４", "第十四条"),
        ("14条", "第十四条"),
        ("(一)", "（一）"),
        ("（一）", "（一）"),
        ("㈠", "（一）"),
        ("（1）", "（1）"),
        ("⑶", "（3）"),
        ("第二十三条(一)", "第二十三条（一）"),
        ("第二十三条第一项", "第二十三条（一）"),
        ("第二十三条第（一）项", "第二十三条（一）"),
        ("第二十三条第二款", "第二十三条"),
        ("二、(一)1.(3)", "二、（一）1.（3）"),
        ("二、（一）1．（3）", "二、（一）1.（3）"),
        ("1．", "1."),
        ("专栏 12", "专栏12"),
        ("3.2(4)", "3.2（4）"),
        ("序言", "序言"),
    ],
)
def test_canonical_clause_query(query: str, first: str) -> None:
    assert canonical_clause_query(query)[0] == first


def test_bare_number_offers_outline_items_too() -> None:
    assert canonical_clause_query("14") == ["第十四条", "十四、", "14."]


@pytest.mark.parametrize("query", ["", "   ", "hello", "医保", "第条"])
def test_canonical_clause_query_rejects(query: str) -> None:
    assert canonical_clause_query(query) == []


def test_split_label() -> None:
    assert split_label("二、（一）1.（3）") == ["二、", "（一）", "1.", "（3）"]
    assert split_label("第二十三条（一）") == ["第二十三条", "（一）"]
    assert split_label("3.2（4）") == ["3.2", "（4）"]
    assert split_label("专栏12") == ["专栏12"]
    assert split_label("序言") == ["序言"]
    assert split_label("") == []


def test_label_matches() -> None:
    assert label_matches("第23条", "第二十三条")
    assert label_matches("第23条", "第二十三条（一）")  # prefix path
    assert label_matches("(一)", "第二十三条（一）")  # last component
    assert label_matches("二、(一)", "二、（一）1.")
    assert label_matches("（一）1.", "二、（一）1.")
    assert not label_matches("第3条", "第三十条")
    assert not label_matches("（二）", "第二十三条（一）")
    assert not label_matches("二、", "三、（二）")
    assert not label_matches("xyz", "第一条")


def test_same_top_unit() -> None:
    assert same_top_unit("第二十三条（一）", "第二十三条")
    assert not same_top_unit("第二十三条", "第二十四条")
    assert same_top_unit("二、（一）1.", "二、（一）")
    assert same_top_unit("二、（一）1.", "二、（一）（3）")
    assert same_top_unit("二、", "二、（三）")
    assert not same_top_unit("二、（一）", "二、（二）")
    assert same_top_unit("专栏3", "专栏3")
    assert not same_top_unit("专栏3", "专栏4")
    assert not same_top_unit("", "第一条")


# --- 文号 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "canon"),
    [
        ("嘉政发〔2014〕87号", "嘉政发〔2014〕87号"),
        ("嘉政办发[2017]11 号", "嘉政办发〔2017〕11号"),
        ("嘉政办发〔2017〕 11 号", "嘉政办发〔2017〕11号"),
        ("嘉政办发（2017）11号", "嘉政办发〔2017〕11号"),
        ("嘉政办发(2017)11号", "嘉政办发〔2017〕11号"),
        ("嘉政办发［2017］11号", "嘉政办发〔2017〕11号"),
        ("嘉政发也2014页87号", "嘉政发〔2014〕87号"),
        ("国办发〔2023〕17 号", "国办发〔2023〕17号"),
        ("（国办发〔2023〕17 号）", "国办发〔2023〕17号"),
        ("# 嘉政发〔2017〕1 号", "嘉政发〔2017〕1号"),
        ("医保办发〔2024〕9 号", "医保办发〔2024〕9号"),
        ("新质监办发〔2012〕24号", "新质监办发〔2012〕24号"),
        ("浙政办函〔２０１６〕３号", "浙政办函〔2016〕3号"),
        ("余府发〔2012〕3号", "余府发〔2012〕3号"),
        ("国务院令第735号", "国务院令第735号"),
        ("中华人民共和国国务院令第735号", "国务院令第735号"),
        ("国令第735号", "国务院令第735号"),
        ("国家医疗保障局令第 1 号", "国家医疗保障局令第1号"),
    ],
)
def test_canonical_doc_no(printed: str, canon: str) -> None:
    assert canonical_doc_no(printed) == canon
    assert is_doc_no(printed)


@pytest.mark.parametrize(
    "bad", ["", "嘉政发", "〔2014〕87号", "第十四条", "嘉政发〔2014〕87号的通知"]
)
def test_canonical_doc_no_rejects(bad: str) -> None:
    with pytest.raises(InputError):
        canonical_doc_no(bad)


def test_find_doc_nos_in_running_text() -> None:
    text = "根据嘉政发〔2014〕87号和国办发〔2023〕17 号，按照《条例》（国令第735号）执行。"
    found = find_doc_nos(text)
    assert [c for _, _, c in found] == [
        "嘉政发〔2014〕87号",
        "国办发〔2023〕17号",
        "国务院令第735号",
    ]
    start, end, _ = found[0]
    assert text[start:end] == "嘉政发〔2014〕87号"


def test_find_doc_nos_spans_cover_printed_form() -> None:
    text = "2021年1月15日 中华人民共和国国务院令第735号公布"
    ((start, end, canon),) = find_doc_nos(text)
    assert canon == "国务院令第735号"
    assert text[start:end] == "中华人民共和国国务院令第735号"


def test_find_doc_nos_ignores_non_numbers() -> None:
    assert find_doc_nos("由医疗保障部门责令第3号整改") == []
    assert find_doc_nos("《若干意见》〔2011〕35 号)") == []  # no issuer prefix printed
    assert find_doc_nos("增长3.5%，投资2017年") == []


def test_docno_regex_is_exported() -> None:
    assert DOCNO_RE.search("嘉政发〔2014〕87号")
