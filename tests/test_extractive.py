"""The extractive answerer's checks, on clauses of the shipped corpus."""

from __future__ import annotations

import pytest

from rag.answer.categories import Category, mentioned, named
from rag.answer.extractive import (
    ExtractiveAnswerer,
    Scored,
    analyse,
    has_figure_of,
)
from rag.answer.service import Assistant, merge_answers, split_parts
from rag.ingest.store import Corpus
from rag.ingest.units import answer_units
from rag.models import Answer, Citation, Clause, Hit
from rag.retrieve.refs import ReferenceLookup


@pytest.fixture(scope="module")
def answerer() -> ExtractiveAnswerer:
    return ExtractiveAnswerer()


def _clause(corpus: Corpus, doc_no: str, label: str) -> Clause:
    return next(c for c in corpus.get(doc_no).clauses if c.label == label)


def _hits(*clauses: Clause) -> list[Hit]:
    return [Hit(c, 1.0 - i / 10, ["dense", "bm25"]) for i, c in enumerate(clauses)]


@pytest.mark.parametrize(
    ("sentence", "kinds", "expected"),
    [
        ("对随军6个月未就业的随军家属", ["duration"], True),  # 个月 is a duration
        ("安排项目51个,年度计划完成投资95.56亿元。", ["count"], True),
        ("自缴费的第三个自然月开始享受待遇", ["duration"], True),
        ("公安机关消防机构每半年对市政消火栓进行一次检查", ["duration"], True),
        ("不低于项目总建筑面积的2‰且最低不少于20平方米", ["amount"], True),
        ("参保人员应当持本人医疗保障凭证就医", ["duration", "ratio", "money"], False),
        ("统筹基金支付比例为85%", ["money"], False),
        ("本办法自2015年2月1日起实施。", ["when"], True),
        ("9月底前基本建成全市统一的移动政务服务平台", ["when"], True),
        ("参保人员应当持本人医疗保障凭证就医", ["when"], False),
        ("重点支持制造业企业500万以下“过桥”转贷", ["amount"], True),
    ],
)
def test_figure_kinds(sentence: str, kinds: list[str], expected: bool) -> None:
    assert has_figure_of(sentence, kinds) is expected


def test_question_analysis_reads_what_is_asked() -> None:
    assert analyse("分哪几个阶段？").quantity == []  # "which", not "how many"
    assert analyse("电子政务项目预审有哪几种结果？").quantity == []
    assert analyse("安排了多少个项目？").quantity == ["count"]
    # the measure word a count names must be the figure's: 9种 answers 有几种, 1次 does not
    needs = analyse("职工医保规定病种有几种？")
    assert needs.measure == "种"
    assert needs.figure_in("恶性肿瘤放化疗、尿毒症等9种") and not needs.figure_in("每2年审验1次")
    assert analyse("安排了多少项目？").measure == ""  # 项目 is a noun, not 项
    assert analyse("整合成哪几类？").measure == ""  # which ones, not how many
    assert "amount" in analyse("配建标准是多少？").quantity
    assert analyse("这个办法什么时候开始施行？").quantity == ["when"]
    assert analyse("通知从哪天开始执行？").quantity == ["when"]
    assert analyse("多大年龄的孩子能覆盖到？").quantity == ["duration"]  # 3~18岁
    assert analyse("嘉兴城乡居民医保住院能报销多少比例？").categories == [
        Category("insurance", "城乡居民医保"),
        Category("care", "住院"),
    ]
    assert named("退休以后还要交医保吗") == [Category("status", "退休")]
    assert Category("care", "门诊") in mentioned("调整居民医保门（急）诊医疗费用报销比例")


def test_key_terms_leave_out_the_colloquial_frame(answerer: ExtractiveAnswerer) -> None:
    terms = answerer.key_terms("换工作中间医保断了两个月，重新参保后马上能报销吗？")
    assert "参保" in terms
    assert not {"马上", "两个", "中间"} & set(terms)


def test_a_term_is_found_spread_or_by_its_official_word(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    assert answerer._found("失业金", "领取失业保险金期间")
    assert not answerer._found("最低工资", "最低生活保障金标准发放。享受本人基本工资")
    assert answerer._found("门诊", "调整居民医保门（急）诊医疗费用报销比例")
    assert not answerer._found("门诊", "门前三包，诊所")
    # 医保卡 → 医疗保障凭证 (index/synonyms.txt)
    c = _clause(corpus, "国务院令第735号", "第四十一条")
    assert "医保卡" not in c.text
    assert answerer._found("医保卡", c.text)
    # the reverse does not hold: 医保 is not found because 医保卡 is an everyday word
    assert not answerer._found("医保", "持社会保障卡就医")


def test_a_named_category_must_be_the_cited_one(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    outpatient = _clause(corpus, "嘉政办发〔2014〕101号", "二、")  # 居民医保 门（急）诊 only
    ans = answerer.answer("嘉兴城乡居民医保住院能报销多少比例？", _hits(outpatient))
    assert ans.refused
    ans = answerer.answer("嘉兴城乡居民医保门诊能报销多少比例？", _hits(outpatient))
    assert not ans.refused
    assert ans.citations[0].clause == "二、"
    assert "%" in ans.answer


def test_the_clause_holding_the_question_words_is_preferred(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    # ranked second, the drug-list clause naming 减肥 and 保健 products answers
    other = _clause(corpus, "医保发〔2024〕23号", "一、")
    right = _clause(corpus, "国家医疗保障局令第1号", "第八条")
    ans = answerer.answer("减肥药、保健品能用医保报销吗？", _hits(other, right))
    assert not ans.refused
    assert [c.doc_no for c in ans.citations] == ["国家医疗保障局令第1号"]


def test_third_article_of_an_outline_text_is_its_part_three(corpus: Corpus) -> None:
    lookup = ReferenceLookup(corpus.clauses())
    pinned = lookup("嘉政办发〔2014〕101号第三条新增了什么规定？")
    assert [c.label for c in pinned] == ["三、"]
    # a text with articles keeps its 第三条
    assert [c.label for c in lookup("嘉政发〔2014〕87号第三条")] == ["第三条"]
    # a clause the document does not have is reported, not answered
    assert lookup("嘉政发〔2014〕87号第九十九条") == []
    assert lookup.unresolved("嘉政发〔2014〕87号第九十九条") == ["嘉政发〔2014〕87号 第九十九条"]
    assert lookup.unresolved("嘉政发〔2014〕87号第十四条") == []
    # an article split into items is pinned with its items
    labels = [c.label for c in lookup("嘉政发〔2014〕87号第二十四条")]
    assert labels[:2] == ["第二十四条", "第二十四条（一）"] and len(labels) >= 3


def test_an_open_category_is_answered_case_by_case(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    residents = _clause(corpus, "嘉政办发〔2014〕101号", "二、")
    employees = _clause(corpus, "嘉政发〔2014〕87号", "第二十三条（一）")
    ans = answerer.answer("在嘉兴看门诊，医保能报多少？", _hits(residents, employees))
    assert not ans.refused
    assert {c.doc_no for c in ans.citations} == {"嘉政办发〔2014〕101号", "嘉政发〔2014〕87号"}
    residents_part, employees_part = ans.answer.split("\n职工医保：")
    assert "城乡居民医保：二、调整居民医保门（急）诊" in residents_part
    assert residents_part.endswith("[1]") and employees_part.endswith("[2]")
    assert "3000元" in employees_part
    # naming the category answers for that one only
    ans = answerer.answer("职工医保看门诊能报多少？", _hits(residents, employees))
    assert [c.doc_no for c in ans.citations] == ["嘉政发〔2014〕87号"]
    assert "城乡居民医保：" not in ans.answer


def test_a_question_is_split_after_each_question_mark() -> None:
    assert split_parts("什么时候实施？多久检查一次消火栓？") == [
        "什么时候实施？",
        "多久检查一次消火栓？",
    ]
    assert split_parts("退休人员住院能报多少？为什么？") == ["退休人员住院能报多少？为什么？"]
    assert split_parts("住院能报多少") == ["住院能报多少"]


def test_merged_answers_renumber_their_citations() -> None:
    a = Citation("嘉政发〔2014〕87号", "第十四条", "办法", "…")
    b = Citation("嘉政发〔2014〕87号", "第十三条", "办法", "…")
    first = Answer("q1", "满25年[1]", False, "extractive", [a])
    second = Answer("q2", "3个月内[1]，即第十四条所说[2]", False, "extractive", [b, a])
    merged = merge_answers("q", [first, second])
    assert merged.answer == "满25年[1]\n3个月内[2]，即第十四条所说[1]"
    assert [c.clause for c in merged.citations] == ["第十四条", "第十三条"]


@pytest.mark.slow
def test_each_part_of_a_two_part_question_is_answered(real_assistant: Assistant) -> None:
    # the answer to the whole question covers the first part only
    ans = real_assistant.ask(
        "嘉政办发〔2014〕110号办法什么时候实施？公安机关消防机构多久检查一次市政消火栓？"
    )
    assert not ans.refused
    labels = {c.clause for c in ans.citations}
    assert {"第二十条", "第十八条"} <= labels
    assert "2015年2月1日" in ans.answer and "每半年" in ans.answer


def test_a_later_part_is_searched_with_the_first_parts_subject(
    real_assistant: Assistant,
) -> None:
    # "支付上有何不同" alone is about payment methods in general (医保发〔2025〕18号);
    # with 甲类药品/乙类药品 carried over it finds the article on paying for them
    question = "国家药品目录里的“甲类药品”和“乙类药品”是怎么划分的？支付上有何不同？"
    assert {"甲类药品", "乙类药品"} <= set(real_assistant._topic(split_parts(question)[0]))
    ans = real_assistant.ask(question)
    assert {("国家医疗保障局令第1号", "第二十四条"), ("国家医疗保障局令第1号", "第二十五条")} <= {
        (c.doc_no, c.clause) for c in ans.citations
    }
    assert "先由参保人自付一定比例" in ans.answer


def test_a_comparison_cites_each_side(answerer: ExtractiveAnswerer, corpus: Corpus) -> None:
    residents = _clause(corpus, "嘉政办发〔2014〕101号", "三、")  # 居民医保 异地安置
    other = _clause(corpus, "嘉政发〔2014〕87号", "第三十二条")
    employees = _clause(corpus, "嘉政发〔2014〕87号", "第三十四条")  # 职工 异地安置
    question = "城乡居民医保和职工医保对长住外地人员异地安置备案的规定有什么不同？"
    assert analyse(question).compared() == ["职工医保", "城乡居民医保"]
    ans = answerer.answer(question, _hits(residents, other, employees))
    assert not ans.refused
    assert {(c.doc_no, c.clause) for c in ans.citations} >= {
        ("嘉政办发〔2014〕101号", "三、"),
        ("嘉政发〔2014〕87号", "第三十四条"),
    }


def test_a_who_question_prefers_the_sentence_naming_the_body(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    levels = _clause(corpus, "嘉政办发〔2014〕99号", "3.2")  # the four warning levels
    issuing = _clause(corpus, "嘉政办发〔2014〕99号", "3.3")  # who issues each
    ans = answerer.answer("市级重污染天气预警分别由谁签发？", _hits(levels, issuing))
    assert not ans.refused
    assert "由市重污染天气应急办主任签发" in ans.answer


def test_a_question_with_nothing_to_look_for_is_refused(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    hits = _hits(_clause(corpus, "嘉政发〔2014〕87号", "第十四条"))
    assert answerer.key_terms("a") == []
    assert answerer.answer("a", hits).refused
    assert answerer.answer("多少钱？", hits).refused


def test_each_thing_asked_gets_its_sentence_from_the_cited_clause(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    targets = _clause(corpus, "嘉政办发〔2014〕104号", "二、")
    ans = answerer.answer("到2017年底公交出行分担率和城市公交车保有量目标是多少？", _hits(targets))
    assert not ans.refused
    assert "22%" in ans.answer and "950标台" in ans.answer
    assert [c.clause for c in ans.citations] == ["二、"]


def test_sentences_of_an_off_topic_clause_do_not_set_the_bar(
    answerer: ExtractiveAnswerer,
) -> None:
    # the best-scoring unit comes from a clause holding none of the question's words:
    # it is left out, and the bar is set by the best unit that may be quoted
    ranked = [
        Scored(0, 0, "off topic", 1.0, coverage=0.0),
        Scored(1, 0, "on topic", 0.5, coverage=0.8),
        Scored(1, 1, "also on topic", 0.4, coverage=0.8),
    ]
    picked = answerer._pick(ranked, analyse("医院要征得我同意吗？"))
    assert [s.text for s in picked] == ["on topic", "also on topic"]


def test_the_figure_asked_for_must_be_about_what_is_asked(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    # 第十七条 speaks of the 等待期 without its length; the only duration it gives
    # (自下一年度起) belongs to the sentence about 集中参保期
    waiting = _clause(corpus, "上海市医疗保障条例", "第十七条")
    assert answerer.focus("在上海非集中参保期参加城乡居民医保，等待期是几个月？") == ["等待期"]
    ans = answerer.answer("在上海非集中参保期参加城乡居民医保，等待期是几个月？", _hits(waiting))
    assert ans.refused
    ans = answerer.answer(
        "在上海集中参保期内连续参保，多久以后能享受城乡居民医保待遇？", _hits(waiting)
    )
    assert not ans.refused and "自下一年度起" in ans.answer


def test_the_focus_of_a_figure_question() -> None:
    answerer = ExtractiveAnswerer()
    # a segment with no key word of its own asks about the one just before it
    assert "扣除" in answerer.focus("个人所得税的赡养老人专项附加扣除，每个月能扣多少？")
    assert answerer.focus("在医院没能刷医保卡，自己先垫了钱，要在多长时间内去报销？") == []
    assert answerer.focus("上海市医疗保障条例第二十一条是什么内容？") == []  # no figure asked


def test_a_part_counts_as_answered_only_by_its_own_figure(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    # 第十八条 gives the 有效期 of a 谈判药品 agreement (两年), not how often the list changes
    agreement = _clause(corpus, "国家医疗保障局令第1号", "第十八条")
    ans = answerer.answer("谈判药品协议有效期多长？", _hits(agreement))
    assert not ans.refused and "两年" in ans.answer
    assert answerer.answers_part("谈判药品协议有效期多长？", ans)
    assert not answerer.answers_part("国家医保药品目录多久调整一次？", ans)


def test_an_item_title_is_read_with_its_sentence(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    plan = _clause(corpus, "嘉政办发〔2017〕17号", "一、")
    units = answer_units(plan.text)
    assert "(一)综合交通投资。计划推进项目38个,完成投资73.70亿元。" in units
    ans = answerer.answer("综合交通安排了多少个项目？", _hits(plan))
    assert "综合交通投资。计划推进项目38个" in ans.answer


def test_two_years_asked_get_a_sentence_each() -> None:
    needs = analyse("嘉兴城乡生活污水处理率2017年底和2020年的目标分别是多少？")
    assert needs.compared() == ["2017年", "2020年"]
    assert analyse("2017年的目标是多少？").compared() == []


def test_the_preamble_repeating_the_title_does_not_outscore_the_clause(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    doc = corpus.get("嘉政办发〔2017〕17号")
    preamble = next(c for c in doc.clauses if c.label == "序言" and "615" in c.text)
    plan = _clause(corpus, "嘉政办发〔2017〕17号", "一、")
    ans = answerer.answer(
        "2017年“615”重大项目计划中综合交通投资安排了多少项目和投资？", _hits(preamble, plan)
    )
    assert [c.clause for c in ans.citations] == ["一、"]
    assert "38个" in ans.answer and "73.70亿元" in ans.answer


def test_story_words_the_texts_never_use_are_no_key_words(corpus: Corpus) -> None:
    clauses = [c.text for d in corpus.documents for c in d.clauses]
    answerer = ExtractiveAnswerer(corpus=clauses)
    terms = answerer.key_terms("我们工地想从马路边的消火栓接水用，可以直接拧开用吗？")
    assert "消火栓" in terms and "拧开" not in terms  # a verb no clause uses
    assert "拧开" in ExtractiveAnswerer().key_terms("可以直接拧开消火栓用吗？")  # no corpus
    # a noun no clause uses is kept: it is what is asked about
    assert "门票" in answerer.key_terms("南湖景区的门票多少钱一张？")
    # a verb without a result (换证 as jieba tags it) may be what is asked: kept
    assert "换证" in answerer.key_terms("驾驶证快到期了，在嘉兴换证要带哪些材料？")


def test_a_named_clause_without_the_figure_asked_is_shown_as_nearest(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    named = _clause(corpus, "嘉政发〔2014〕87号", "第四十九条")  # 按有关规定执行
    pinned = [Hit(named, 1.0, ["lookup"])]
    ans = answerer.answer("87号文第四十九条说的离休干部医疗补助的具体比例是多少？", pinned)
    assert ans.refused and ans.citations[0].clause == "第四十九条"
    ans = answerer.answer("87号文第四十九条说的是哪些人员？", pinned)
    assert not ans.refused and "离休干部" in ans.answer


def test_money_asked_is_not_any_figure() -> None:
    assert analyse("工业用地出让最低价标准是每平方米多少元？").quantity == ["money"]
    assert "amount" in analyse("配建标准是多少？").quantity


def test_what_to_bring_prefers_the_sentence_naming_the_papers(
    answerer: ExtractiveAnswerer, corpus: Corpus
) -> None:
    assert analyse("在上海的医院看病用医保结算，要带什么？").bring
    general = _clause(corpus, "上海市医疗保障条例", "第十条")
    papers = _clause(corpus, "上海市医疗保障条例", "第四十六条")
    ans = answerer.answer("在上海的医院看病用医保结算，要带什么？", _hits(general, papers))
    assert "第四十六条" in [c.clause for c in ans.citations]
    assert "社会保障卡" in ans.answer


def test_a_part_half_covered_by_the_answer_is_asked_on_its_own(real_assistant: Assistant) -> None:
    # 第十二条 (the three results) holds 项目, 申报 and 预审 of the third part too, but not
    # 随时受理: that part is answered from 第十条
    ans = real_assistant.ask(
        "按嘉政办发〔2014〕111号，电子政务项目预审有哪几种结果？被定为暂缓实施的怎么办？"
        "哪些项目可以不等年度申报、随时受理预审？"
    )
    labels = [c.clause for c in ans.citations]
    assert "第十二条" in labels and "第十条" in labels
    assert "可随时受理预审" in ans.answer


def test_the_date_a_text_takes_effect_answers_from_when_it_is_applied(corpus: Corpus) -> None:
    answerer = ExtractiveAnswerer(corpus=[c.text for d in corpus.documents for c in d.clauses])
    # the effective-date article shares no word with the question but its title's; the
    # article on 经办 shares many and gives no date
    services = _clause(corpus, "浙江省医疗保障条例", "第三十六条")
    effective = _clause(corpus, "浙江省医疗保障条例", "第五十九条")
    question = "医保经办窗口适用《浙江省医疗保障条例》办理业务，应当从哪一天起按该条例执行？"
    assert analyse(question).effective
    ans = answerer.answer(question, _hits(services, effective))
    assert not ans.refused and "2021年7月1日" in ans.answer
