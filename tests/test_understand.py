"""Question understanding for spoken calls, and documents named by short names."""

from __future__ import annotations

from datetime import date

import pytest

from rag.answer.understand import (
    canonical_terms,
    read_amounts,
    read_facts,
    split_asks,
    understand,
    wants,
)
from rag.ingest.store import Corpus
from rag.retrieve.docnames import DocNames


@pytest.mark.parametrize(
    ("question", "asks", "story"),
    [
        (
            "我爸退休了，在嘉兴住院花了两万块，职工医保能报多少？",
            "职工医保能报多少？",
            "我爸退休了，在嘉兴住院花了两万块",
        ),
        # a short asking segment that leans on the story keeps the segment before it
        (
            "我没工作，去年在市一院住了十来天，花了三万，这个能报多少？",
            "花了三万，这个能报多少？",
            "我没工作，去年在市一院住了十来天",
        ),
        (
            "我妈做了个大手术，现在出院回家恢复。她的职工医保能申请家庭病床吗？",
            "她的职工医保能申请家庭病床吗？",
            "我妈做了个大手术，现在出院回家恢复。",
        ),
        ("医保卡借给别人用会怎么样？", "医保卡借给别人用会怎么样？", ""),
        # no asking word at all: the whole text is the question
        ("退休人员住院报销比例", "退休人员住院报销比例", ""),
        # beside a sentence ending in ？, 几个人 / 几次 in a stated sentence are "a few"
        (
            "我们几个朋友合伙在镇上开了家托育机构，场地是租的。以后不办了，押金怎么处理？",
            "押金怎么处理？",
            "我们几个朋友合伙在镇上开了家托育机构，场地是租的。以后不办了",
        ),
        # 好几个月 / 十几万 / 这几年 never ask, inside a question sentence too
        (
            "我爸住院好几个月了，花了十几万，医保能不能先结一部分？",
            "医保能不能先结一部分？",
            "我爸住院好几个月了，花了十几万",
        ),
        # …unless that sentence says it asks
        (
            "我想问一下住院报销比例是多少。退休的能多报吗？",
            "我想问一下住院报销比例是多少。退休的能多报吗？",
            "",
        ),
    ],
)
def test_story_and_asking_part_are_told_apart(question: str, asks: str, story: str) -> None:
    assert split_asks(question) == (asks, story)


@pytest.mark.parametrize(
    ("asks", "kind"),
    [
        ("职工医保能报多少？", "money"),
        ("退休人员住院报销比例是多少？", "ratio"),
        ("医保卡借给别人用会怎么样？", "consequence"),
        ("能申请家庭病床吗？", "yesno"),
        ("要带哪些材料？", "bring"),
        ("由哪个部门负责？", "who"),
        ("什么时候开始施行？", "when"),
        ("缴费年限要满多少年？", "duration"),
    ],
)
def test_the_kind_of_answer_wanted(asks: str, kind: str) -> None:
    assert kind in wants(asks)


def test_a_count_in_the_story_is_not_asked() -> None:
    u = understand("我在社区药店拿过几次降压药，后来总接到推销电话。药店能把我的买药记录给别人吗？")
    assert "count" not in u.wants
    assert "yesno" in u.wants


def test_indefinite_ji_wants_no_figure() -> None:
    assert wants("这几年交的钱能退吗？") == ["yesno"]
    assert "count" in wants("要交几次？")


def test_a_ratio_question_does_not_also_want_money() -> None:
    assert wants("报销比例是多少？") == ["ratio"]


@pytest.mark.parametrize(
    ("question", "axis", "value"),
    [
        ("厂里给我交的医保，住院怎么报？", "scheme", "职工"),
        ("我是在社区自己交的医保，没工作", "scheme", "城乡居民"),
        ("我爸七十多了，早就退了", "status", "退休"),
        ("我还没退休，在单位上班", "status", "在职"),
        ("住了十来天院", "service", "住院"),
        ("在镇卫生院配药", "service", "门诊"),
        ("在镇卫生院配药", "level", "一级"),
        ("在县人民医院开刀", "level", "二级"),
        ("在市一院住院", "level", "三级"),
        ("透析费用怎么报", "service", "规定病种"),
    ],
)
def test_caller_facts_are_read_from_everyday_words(question: str, axis: str, value: str) -> None:
    assert value in read_facts(question).get(axis, [])


def test_a_negated_cue_does_not_count() -> None:
    facts = read_facts("我还没退休")
    assert facts.get("status") == ["在职"]
    assert "职工" not in read_facts("我没上班，也没工作").get("scheme", [])


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("住院花了两万块", [20000.0]),
        ("花了三万，能报多少", [30000.0]),
        ("一共花了2.5万元", [25000.0]),
        ("门诊花了1500块", [1500.0]),
        ("在县医院住院八千多", [8000.0]),
        ("我交了十五年了，今年六十岁", []),
    ],
)
def test_amounts_of_money_in_the_story(text: str, amounts: list[float]) -> None:
    assert read_amounts(text) == amounts


def test_understood_json_shows_what_was_read() -> None:
    u = understand("我爸退休了，在嘉兴住院花了两万块，职工医保能报多少？", today=date(2026, 12, 3))
    assert u.to_json() == {
        "asks": "职工医保能报多少？",
        "wants": ["money", "ratio"],
        "scheme": "职工",
        "status": "退休",
        "service": "住院",
        "place": "嘉兴",
        "amount": 20000.0,
    }
    assert understand("去年和今年的标准一样吗", today=date(2026, 12, 3)).years == [2025, 2026]
    assert understand("我今年七十岁了").age == 70


def test_everyday_words_gain_the_texts_terms() -> None:
    u = understand("厂里给我交的医保，在市一院住院")
    terms = canonical_terms(u)
    assert "职工基本医疗保险" in terms and "三级（市级）" in terms
    assert "住院" not in terms  # already in the question


@pytest.fixture(scope="module")
def names(corpus: Corpus) -> DocNames:
    return DocNames((d.doc_no, d.title) for d in corpus.printed())


@pytest.mark.parametrize(
    ("question", "doc"),
    [
        ("87号文第二十五条说的什么", "嘉政发〔2014〕87号"),
        ("〔2014〕87号里的起付标准", "嘉政发〔2014〕87号"),
        ("嘉政办发[2014]101号", "嘉政办发〔2014〕101号"),
        ("沪医保条例第十六条", "上海市医疗保障条例"),
        ("上海医保条例怎么规定的", "上海市医疗保障条例"),
        ("天津医保条例", "天津市基本医疗保险条例"),
        ("浙江省医疗保障条例", "浙江省医疗保障条例"),
        ("国务院735号令第十九条", "国务院令第735号"),
        ("医保局1号令讲的是什么", "国家医疗保障局令第1号"),
        ("职工医保暂行办法里的起付线", "嘉政发〔2014〕87号"),
    ],
)
def test_short_names_resolve_to_the_document(names: DocNames, question: str, doc: str) -> None:
    assert names.resolve(question) == [doc]


def test_an_ambiguous_short_name_resolves_to_nothing(names: DocNames) -> None:
    # 嘉政办发〔2017〕17号 and 国办发〔2023〕17号: "17号文" names neither for sure
    assert names.resolve("17号文里怎么说") == []
    assert names.resolve("医保条例怎么规定") == []  # 天津, 上海 and 浙江 all have one
