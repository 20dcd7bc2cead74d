"""The clause segmenter on small made-up texts and on the shipped gazette."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.outline import (
    HARD_MAX,
    Line,
    RawClause,
    clean_spaces,
    join_lines,
    split_clauses,
)

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
GAZETTE = CORPUS / "000_d3b6ddc9e5e8e6fc.txt"


def split(text: str) -> list[RawClause]:
    return split_clauses([Line(i, t) for i, t in enumerate(text.split("\n"), 1)])


def labels(clauses: list[RawClause]) -> list[str]:
    return [c.label for c in clauses]


def by_label(clauses: list[RawClause], label: str) -> RawClause:
    (hit,) = [c for c in clauses if c.label == label]
    return hit


RULE = "应当按照国家和本市规定的标准和程序执行，并向社会公开相关信息，接受社会监督和检查。"
LONG = RULE * 4


# --- articles ---------------------------------------------------------------------------------


def test_articles_with_chapters_and_contents_page() -> None:
    text = "\n".join(
        [
            "目  录",
            "第一章　总  则",
            "第二章　附  则",
            "第一章　总  则",
            "第一条　为了规范医疗保障关系，制定本办法。",
            "第二条　本办法适用于本市行政区域。",
            "",
            "本办法所称医疗保障包括基本医疗保险。",
            "第二章　附  则",
            "第三条　本办法自2020年1月1日起施行。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["第一条", "第二条", "第三条"]
    assert cs[0].headings == ["第一章 总则"]
    assert cs[2].headings == ["第二章 附则"]
    assert cs[1].text == "第二条 本办法适用于本市行政区域。\n本办法所称医疗保障包括基本医疗保险。"
    assert (cs[1].start_line, cs[1].end_line) == (6, 8)


def test_sections_are_headings_too() -> None:
    cs = split("第一章 总则\n第一节 一般规定\n第一条 甲。\n第二条 乙。")
    assert cs[0].headings == ["第一章 总则", "第一节 一般规定"]


def test_reference_at_line_start_is_not_an_article() -> None:
    text = (
        "第九条　违反本办法规定的，由医疗保障部门依照本办法\n"
        "第十条规定处理。\n"
        "第十条　本办法自公布之日起施行。"
    )
    cs = split(text)
    assert labels(cs) == ["第九条", "第十条"]
    assert cs[0].text == "第九条 违反本办法规定的，由医疗保障部门依照本办法第十条规定处理。"


def test_article_numbers_must_increase() -> None:
    text = "第一条 甲。\n第二条 乙。\n第一条 这不是新的条文。\n第三条 丙。"
    assert labels(split(text)) == ["第一条", "第二条", "第三条"]


def test_arabic_article_numbers_become_chinese() -> None:
    assert labels(split("第1条 甲。\n第2条 乙。")) == ["第一条", "第二条"]


def test_long_article_with_rule_items_is_split() -> None:
    text = "\n".join(
        [
            "第五条　医疗保障部门应当履行下列职责：",
            f"（一）建立健全基金监督制度，{LONG}",
            f"（二）组织开展专项检查工作，{LONG}",
            f"（三）依法查处违法违规行为，{LONG}",
            "第六条　本办法自公布之日起施行。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["第五条", "第五条（一）", "第五条（二）", "第五条（三）", "第六条"]
    lead = by_label(cs, "第五条")
    assert lead.text == "第五条 医疗保障部门应当履行下列职责："
    item = by_label(cs, "第五条（二）")
    assert item.headings == ["第五条 医疗保障部门应当履行下列职责："]
    assert item.text.startswith("（二）组织开展专项检查工作")


def test_enumeration_items_stay_in_their_article() -> None:
    items = [f"（{n}）{RULE}{RULE[:-1]}{n}的；" for n in "一二三四五六七八"]
    text = "\n".join(["第七条　有下列情形之一的，不予支付：", *items, "第八条　附则。"])
    cs = split(text)
    assert labels(cs) == ["第七条", "第八条"]
    assert "（八）" in cs[0].text and len(cs[0].text) > 400


def test_items_followed_by_closing_paragraph_are_not_split() -> None:
    text = "\n".join(
        [
            "第九条　有下列行为之一的，责令改正：",
            f"（一）{LONG}",
            f"（二）{LONG}",
            "有前款行为，造成基金损失的，责令退回。",
        ]
    )
    assert labels(split(text)) == ["第九条"]


def test_paragraph_after_last_rule_item_belongs_to_it() -> None:
    text = "\n".join(
        [
            "第二十三条　参加职工基本医疗保险的，医疗费按以下规定支付。",
            f"（一）门诊医疗费用{LONG}",
            "门诊起付标准在职职工为500元、退休人员为300元。",
            f"（二）住院医疗费用{LONG}",
            "退休人员在上述支付比例的基础上增加5个百分点。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["第二十三条", "第二十三条（一）", "第二十三条（二）"]
    assert by_label(cs, "第二十三条（二）").text.endswith("增加5个百分点。")


def test_preamble_before_articles() -> None:
    text = "《某某办法》已经审议通过，现予公布，自2020年9月1日起施行。\n第一条 甲。\n第二条 乙。"
    cs = split(text)
    assert labels(cs) == ["序言", "第一条", "第二条"]


def test_signature_and_decree_signer_are_dropped() -> None:
    text = "\n".join(
        [
            "《某某办法》已经局务会审议通过，现予公布。",
            "局 长： 胡静林",
            "2020年7月30日",
            "第一条 甲。",
            "第二条 本办法自公布之日起施行。",
            "嘉兴市人民政府",
            "2014年12月24日",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["序言", "第一条", "第二条"]
    assert cs[0].text == "《某某办法》已经局务会审议通过，现予公布。"
    assert cs[-1].text == "第二条 本办法自公布之日起施行。"


# --- outlines ---------------------------------------------------------------------------------


def test_outline_levels_and_headings() -> None:
    long_item = "加强组织领导，" + RULE * 12
    text = "\n".join(
        [
            "为贯彻落实有关要求，现提出以下意见。",
            "一、总体要求",
            "以习近平新时代中国特色社会主义思想为指导，全面贯彻落实党的二十大精神。",
            "二、主要任务",
            f"（一）强化监管责任。{long_item}",
            f"（二）推进专项整治。{long_item}",
            "三、保障措施",
            "（一）加强组织实施。各地区要加强组织领导。",
            "（二）做好宣传教育。各地区要加大宣传力度。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["序言", "一、", "二、（一）", "二、（二）", "三、"]
    assert by_label(cs, "二、（二）").headings == ["二、主要任务"]
    # 三、 is short: its items stay inside it.
    assert "（二）做好宣传教育" in by_label(cs, "三、").text


def test_heading_with_own_text_gets_its_own_clause() -> None:
    sub = "1. 推进改革。" + RULE * 12
    text = "\n".join(
        [
            "三、强化工作举措",
            "以两个千亿投资工程为抓手，建立完善月度排名通报、季度督查点评的工作机制。",
            "（一）推进责任分解落实。",
            sub,
            "2. 加强督查考核。" + RULE * 12,
            "（二）推进项目建设管理。" + RULE * 10,
        ]
    )
    cs = split(text)
    assert labels(cs) == ["三、", "三、（一）1.", "三、（一）2.", "三、（二）"]
    assert by_label(cs, "三、").text.startswith("三、强化工作举措\n以两个千亿")
    assert by_label(cs, "三、（一）2.").headings == ["三、强化工作举措", "（一）推进责任分解落实。"]


def test_short_sub_items_are_kept_in_their_parent() -> None:
    text = "\n".join(
        [
            "一、工作目标",
            "（一）数量目标。" + RULE * 25,
            "（二）质量目标。到2020年：",
            "1. 合格率达到95%；",
            "2. 满意度达到80%；",
            "3. 覆盖率达到100%。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["一、（一）", "一、（二）"]
    assert by_label(cs, "一、（二）").text.count("\n") == 3


def test_false_outline_markers_are_text() -> None:
    text = "\n".join(
        [
            "一、主要任务",
            "（一）第一项任务。内容。",
            "（二）第二项任务。内容。",
            "（五）这一行的编号不连续，是正文。",
            "2014.",
            "3.5%的增长目标。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["一、"]
    assert "（五）这一行" in cs[0].text


def test_marker_after_broken_line_is_text() -> None:
    text = "\n".join(
        [
            "一、目标",
            "全年完成固定资产投资增长目标，其中工业投资",
            "1. 2倍于去年，服务业投资增长较快。",
            "二、措施",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["一、", "二、"]
    assert "其中工业投资1. 2倍于去年" in cs[0].text  # as printed, not an item


def test_numbering_continued_across_sections() -> None:
    para = RULE * 10
    text = "\n".join(
        [
            "一、加大信贷投入",
            f"（一）积极加大信贷投放。{para}",
            f"（二）扩大直接融资规模。{para}",
            "二、加大重点领域支持力度",
            f"（三）保障重点领域资金需求。{para}",
            f"（四）加大科技金融投入。{para}",
        ]
    )
    assert labels(split(text)) == ["一、（一）", "一、（二）", "二、（三）", "二、（四）"]


def test_boxes_are_separate_clauses() -> None:
    text = "\n".join(
        [
            "三、主要任务",
            "1. 实施产品质量提升行动。推动消费品质量提升。",
            "专栏 1:消费品质量提升行动",
            "在消费品行业开展增品种、提品质、创品牌为主要内容的三品行动。",
            "2. 实施工程质量创优行动。完善工程质量管理体系。",
            "专栏2 工程质量创优活动",
            "到2020年，实现大中型工程一次验收合格率达到100%。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["三、", "专栏1", "专栏2"]
    assert "三品行动" not in by_label(cs, "三、").text
    assert "2. 实施工程" in by_label(cs, "三、").text or "2.实施工程" in by_label(cs, "三、").text
    assert by_label(cs, "专栏1").headings[0] == "三、主要任务"


def test_decimal_sections() -> None:
    text = "\n".join(
        [
            "1 总则",
            "1.1 编制目的",
            "有效应对重污染天气，" + RULE * 3,
            "1.2 工作原则",
            "（1）以人为本，减少危害。" + RULE * 10,
            "（2）政府主导，社会参与。" + RULE * 10,
            "2 组织体系",
            "2.1 应急组织机构",
            "市政府负责全市重污染天气应急工作。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["1.1", "1.2（1）", "1.2（2）", "2"]
    assert by_label(cs, "1.2（2）").headings == ["1 总则", "1.2 工作原则"]
    assert (
        by_label(cs, "2").text == "2 组织体系\n2.1 应急组织机构\n市政府负责全市重污染天气应急工作。"
    )


def test_bracket_sections() -> None:
    text = "\n".join(
        [
            "【登记备案要求】定点医药机构按以下要求进行登记备案：",
            "（一）登记备案应做到信息全面；",
            "（二）及时更新。",
            "【登记备案状态】登记备案状态包括：正常、暂停、终止。",
            "（一）正常状态可以结算；",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["【登记备案要求】", "【登记备案状态】"]


def test_annex_list_is_one_clause() -> None:
    text = "\n".join(
        [
            "一、工作要求",
            "各单位要认真贯彻执行。",
            "附件：1.自治区质监局各单位信息宣传联络员登记表",
            "",
            "2.自治区质监局各单位（部门）申请宣传申报单",
            "嘉兴市人民政府",
            "2017年2月16日",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["一、", "附件"]
    assert cs[1].text == (
        "附件：1.自治区质监局各单位信息宣传联络员登记表\n2.自治区质监局各单位（部门）申请宣传申报单"
    )


def test_plain_text_is_one_preamble_clause() -> None:
    cs = split(
        "鉴于人事调整和工作需要，经市政府同意，现就有关分工通知如下：\n协助副市长处理民政工作。"
    )
    assert labels(cs) == ["序言"]


def test_oversized_clause_is_cut_at_paragraph_ends() -> None:
    paras = [f"第{n}段。" + RULE * 10 for n in range(6)]
    cs = split("\n".join(["一、很长的一节", *paras]))
    assert len(cs) > 1
    assert {c.label for c in cs} == {"一、"}
    assert all(len(c.text) <= HARD_MAX for c in cs)


# --- line repair ------------------------------------------------------------------------------


def test_pdf_spaces_and_item_characters() -> None:
    text = "\n".join(
        [
            "第一条 按照《中华人民共和国医 师法》，提 升基本医疗保险用药水平。",
            "第二条 联系电话：0991-2817458 2316124，自 2020 年起施行。",
            "　　㈠新型节能建筑体系；",
        ]
    )
    cs = split(text)
    assert "医师法》，提升基本" in cs[0].text
    assert "0991-2817458 2316124" in cs[1].text
    assert "自2020年起施行" in cs[1].text
    assert cs[1].text.endswith("（一）新型节能建筑体系；")


def test_markdown_markup_is_stripped() -> None:
    cs = split(
        "## 一、明确目标任务\n\n**总量目标。**全市完成固定资产投资。\n### 二、主要领域\n正文。"
    )
    assert labels(cs) == ["一、", "二、"]
    assert cs[0].text == "一、明确目标任务\n总量目标。全市完成固定资产投资。"


def test_clean_spaces() -> None:
    assert clean_spaces("医 师法") == "医师法"
    assert clean_spaces("2017 年 2 月") == "2017年2月"
    assert clean_spaces("劣 V 类水") == "劣V类水"
    assert clean_spaces("GB 3095-2012") == "GB 3095-2012"


def test_join_lines() -> None:
    lines = [
        "《药品目录》由凡例、西药、中成药、协议期内谈判药品和中药饮片五部分组成。省级部门增补的",
        "药品单列。",
        "一、总体要求",
        "以习近平新时代中国特色社会主义思想为指导，加快推进北师大",
        "",
        "嘉兴附属高中整体迁建。",
        "1. 第一项；",
        "2. 第二项。",
    ]
    assert join_lines(lines) == (
        "《药品目录》由凡例、西药、中成药、协议期内谈判药品和中药饮片五部分组成。省级部门增补的药品单列。\n"
        "一、总体要求\n"
        "以习近平新时代中国特色社会主义思想为指导，加快推进北师大嘉兴附属高中整体迁建。\n"
        "1. 第一项；\n"
        "2. 第二项。"
    )


def test_empty_input() -> None:
    assert split_clauses([]) == []
    assert split("\n\n") == []


# --- the shipped gazette (clean markdown issue) -------------------------------------------------


def gazette_section(start: str, end: str) -> list[Line]:
    """The gazette lines after the line ``start`` up to the next one containing ``end``."""
    lines = GAZETTE.read_text(encoding="utf-8").split("\n")
    a = next(i for i, t in enumerate(lines) if t.strip() == start)
    b = next(i for i in range(a + 1, len(lines)) if end in lines[i])
    return [Line(i + 1, lines[i]) for i in range(a + 1, b)]


@pytest.mark.skipif(not GAZETTE.exists(), reason="gazette not shipped")
def test_gazette_reform_plan() -> None:
    cs = split_clauses(gazette_section("### 关于全面推进“最多跑一次”改革实施方案", "施晓松"))
    assert labels(cs) == [
        "序言",
        "一、",
        *[f"二、（一）{n}." for n in range(1, 7)],
        "二、（二）",
        *[f"二、（三）{n}." for n in range(1, 5)],
        "三、",
        "四、",
    ]
    first = by_label(cs, "二、（一）1.")
    # Headings and text keep the printed markers; labels are canonical.
    assert first.headings == ["二、主要任务", "(一)推进简政放权,实现“最多跑一次”。"]
    # A sentence broken across a blank line is re-joined.
    assert "按照国家和省行政审批" in by_label(cs, "二、（一）5.").text


@pytest.mark.skipif(not GAZETTE.exists(), reason="gazette not shipped")
def test_gazette_quality_plan_boxes() -> None:
    cs = split_clauses(gazette_section("## 嘉兴市质量发展“十三五”规划", "教育现代化发展"))
    boxes = [c.label for c in cs if c.label.startswith("专栏")]
    assert boxes == [f"专栏{n}" for n in range(1, 12)]
    assert "三、（一）2." in labels(cs)
    for c in cs:
        assert len(c.text) <= HARD_MAX or "\t" in c.text


@pytest.mark.skipif(not GAZETTE.exists(), reason="gazette not shipped")
def test_gazette_notice_signature_not_in_clauses() -> None:
    cs = split_clauses(gazette_section("嘉政发〔2017〕1 号", "嘉政发〔2017〕7 号"))
    assert labels(cs)[:3] == ["序言", "一、", "二、"]
    assert labels(cs)[-1] == "附件"
    assert all("2017 年 2 月 16 日" not in c.text and "2017年2月16日" not in c.text for c in cs)
    assert all(not c.text.endswith("嘉兴市人民政府") for c in cs)


def test_wrapped_section_heading_does_not_hide_next_marker() -> None:
    text = "\n".join(
        [
            "4.2 市级应急响应措施",
            "市指挥部各成员单位在接到市级预警后，立即启动应急响应。",
            "4.3 各县（市、区）政府、嘉兴经济技术开发区",
            "（国际商务区）、嘉兴港区应急响应",
            "4.3.1 响应分级",
            "发布蓝色预警，启动四级应急响应。",
            "4.3.2 响应措施",
            "各地可根据本预案确定的措施，采取应急处置。",
        ]
    )
    cs = split(text)
    assert labels(cs) == ["4.2", "4.3"]
    assert by_label(cs, "4.3").text.startswith(
        "4.3 各县（市、区）政府、嘉兴经济技术开发区（国际商务区）、嘉兴港区应急响应\n4.3.1 响应分级"
    )
