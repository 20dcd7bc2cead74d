"""Ingestion of the two gazette issues, checked on the real files."""

from __future__ import annotations

import re
import unicodedata

import pytest

from rag.ingest.labels import cn_to_int
from rag.ingest.store import Corpus
from rag.models import Document

# Every numbered document printed in the two issues, as printed (read off the files).
PRINTED = [
    ("嘉政发〔2017〕1号", "嘉兴市人民政府关于做好2017年扩大有效投资工作的通知", "2017-02-16"),
    (
        "嘉政发〔2017〕7号",
        "嘉兴市人民政府关于公布嘉兴市创建国家公共文化服务体系示范区先进集体和先进个人的通知",
        "2017-02-15",
    ),
    (
        "嘉政发〔2017〕8号",
        "嘉兴市人民政府关于印发全面推进“最多跑一次”改革实施方案的通知",
        "2017-03-31",
    ),
    ("嘉政办发〔2017〕10号", "嘉兴市人民政府办公室关于施晓松副秘书长工作分工的通知", "2017-02-21"),
    (
        "嘉政办发〔2017〕11号",
        "嘉兴市人民政府办公室关于转发《人行嘉兴市中心支行嘉兴银监分局市金融办关于金融助力制造业发展的若干意见》的通知",
        "2017-03-02",
    ),
    (
        "嘉政办发〔2017〕12号",
        "嘉兴市人民政府办公室关于印发嘉兴市节能低碳和应对气候变化“十三五”规划的通知",
        "2017-03-08",
    ),
    (
        "嘉政办发〔2017〕13号",
        "嘉兴市人民政府办公室关于印发嘉兴市劣V类水剿灭行动实施方案的通知",
        "2017-03-13",
    ),
    (
        "嘉政办发〔2017〕14号",
        "嘉兴市人民政府办公室关于印发嘉兴市人民政府2017年立法工作计划实施方案的通知",
        "2017-03-13",
    ),
    (
        "嘉政办发〔2017〕15号",
        "嘉兴市人民政府办公室关于印发嘉兴市质量发展“十三五”规划的通知",
        "2017-03-23",
    ),
    (
        "嘉政办发〔2017〕16号",
        "嘉兴市人民政府办公室关于印发嘉兴市教育现代化发展“十三五”规划的通知",
        "2017-03-23",
    ),
    (
        "嘉政办发〔2017〕17号",
        "嘉兴市人民政府办公室关于印发嘉兴市扩大有效投资“615”重大项目2017年度计划的通知",
        "2017-03-27",
    ),
    (
        "嘉政办发〔2017〕18号",
        "嘉兴市人民政府办公室关于印发2017年嘉兴市市级政府投资项目计划和市级政府投资信息化项目计划的通知",
        "2017-03-27",
    ),
    (
        "嘉政办发〔2017〕19号",
        "嘉兴市人民政府办公室关于印发2017年全市重点建设项目计划的通知",
        "2017-03-27",
    ),
    (
        "嘉政发〔2014〕79号",
        "嘉兴市人民政府关于表彰2014年度嘉兴市市长质量奖获奖单位的通报",
        "2014-11-28",
    ),
    ("嘉政发〔2014〕80号", "嘉兴市人民政府关于进一步加强计量工作的实施意见", "2014-12-02"),
    (
        "嘉政发〔2014〕81号",
        "嘉兴市人民政府关于公布嘉兴市第十九届社会科学优秀成果的通知",
        "2014-12-03",
    ),
    (
        "嘉政发〔2014〕82号",
        "嘉兴市人民政府关于贯彻落实《社会信用体系建设规划纲要（2014～2020年）》的实施意见",
        "2014-12-09",
    ),
    ("嘉政发〔2014〕83号", "嘉兴市人民政府关于印发嘉兴市本级产业发展规划的通知", "2014-12-15"),
    (
        "嘉政发〔2014〕84号",
        "嘉兴市人民政府关于印发加快分布式光伏发电发展的补充意见的通知",
        "2014-12-15",
    ),
    (
        "嘉政发〔2014〕85号",
        "嘉兴市人民政府嘉兴军分区关于批转市人力社保局嘉兴军分区政治部嘉兴市军人随军家属就业安置实施细则的通知",
        "2014-12-22",
    ),
    (
        "嘉政发〔2014〕86号",
        "嘉兴市人民政府印发关于加快发展养老服务业的实施意见的通知",
        "2014-12-22",
    ),
    (
        "嘉政发〔2014〕87号",
        "嘉兴市人民政府关于印发嘉兴市职工基本医疗保险暂行办法的通知",
        "2014-12-24",
    ),
    (
        "嘉政发〔2014〕88号",
        "嘉兴市人民政府印发关于加强新型城镇化建设金融服务保障若干意见的通知",
        "2014-12-28",
    ),
    (
        "嘉政办发〔2014〕98号",
        "嘉兴市人民政府办公室关于印发开展居住证制度改革试点工作的指导意见的通知",
        "2014-10-27",
    ),
    (
        "嘉政办发〔2014〕99号",
        "嘉兴市人民政府办公室关于印发嘉兴市大气重污染应急预案（试行）的通知",
        "2014-10-31",
    ),
    (
        "嘉政办发〔2014〕101号",
        "嘉兴市人民政府办公室关于调整市本级城乡居民基本医疗保险有关规定的通知",
        "2014-12-02",
    ),
    (
        "嘉政办发〔2014〕102号",
        "嘉兴市人民政府办公室关于进一步加强商业秘密保护工作的实施意见",
        "2014-12-02",
    ),
    (
        "嘉政办发〔2014〕104号",
        "嘉兴市人民政府办公室关于印发嘉兴市区创建全省公交优先示范城市的意见",
        "2014-12-09",
    ),
    (
        "嘉政办发〔2014〕105号",
        "嘉兴市人民政府办公室关于调整市级议事协调和临时机构及其主要负责人的通知",
        "2014-12-09",
    ),
    (
        "嘉政办发〔2014〕106号",
        "嘉兴市人民政府办公室关于印发嘉兴市土地供应差别化管理实施意见的通知",
        "2014-12-12",
    ),
    (
        "嘉政办发〔2014〕108号",
        "嘉兴市人民政府办公室关于公布嘉兴市第一批“三名”培育试点企业名单的通知",
        "2014-12-15",
    ),
    (
        "嘉政办发〔2014〕110号",
        "嘉兴市人民政府办公室关于印发嘉兴市消防水源管理办法的通知",
        "2014-12-15",
    ),
    (
        "嘉政办发〔2014〕111号",
        "嘉兴市人民政府办公室关于印发《嘉兴市电子政务项目预审暂行办法》的通知",
        "2014-12-12",
    ),
    (
        "嘉政办发〔2014〕112号",
        "嘉兴市人民政府办公室关于印发《嘉兴市深化环境资源要素市场化配置改革的若干意见》等四个文件的通知",
        "2014-12-17",
    ),
    (
        "嘉政办发〔2014〕113号",
        "嘉兴市人民政府办公室关于印发加强综合行政执法协作配合意见的通知",
        "2014-12-28",
    ),
    (
        "嘉政办发〔2014〕114号",
        "嘉兴市人民政府办公室关于公布2014年度全市绿化工作考核结果的通知",
        "2015-01-05",
    ),
    (
        "嘉政办发〔2014〕115号",
        "嘉兴市人民政府办公室关于印发嘉兴市特殊教育提升计划（2014～2016年）的通知",
        "2014-12-30",
    ),
]
GAZETTES = ("000_d3b6ddc9e5e8e6fc.txt", "003_0e8310ee3ea63b6f.txt")


def gazette_docs(corpus: Corpus) -> list[Document]:
    return [d for d in corpus.documents if d.source in GAZETTES and d.printed]


def test_every_printed_document_once_with_number_title_issuer_date(corpus: Corpus) -> None:
    numbered = [d for d in gazette_docs(corpus) if d.doc_no]
    got = [(d.doc_no, d.title, d.date) for d in numbered]
    assert got == PRINTED
    for d in numbered:
        want = "嘉兴市人民政府办公室" if "办发" in d.doc_no else "嘉兴市人民政府"
        assert d.issuer.startswith(want), (d.doc_no, d.issuer)


def _article_numbers(d: Document, part: int) -> list[int]:
    nums: list[int] = []
    for c in d.clauses:
        m = re.match(r"^第([一二三四五六七八九十百零]+)条", c.label)
        if c.part == part and m:
            n = cn_to_int(m.group(1))
            if not nums or nums[-1] != n:
                nums.append(n)
    return nums


def test_article_sequences_complete_and_in_order(corpus: Corpus) -> None:
    checked = 0
    for d in gazette_docs(corpus):
        for part in sorted({c.part for c in d.clauses}):
            nums = _article_numbers(d, part)
            if nums:
                checked += 1
                assert nums == list(range(1, len(nums) + 1)), (d.doc_no, part, nums)
    assert checked >= 5


def test_87_has_all_51_articles(corpus: Corpus) -> None:
    d = corpus.get("嘉政发〔2014〕87号")
    assert d.attachments == ["嘉兴市职工基本医疗保险暂行办法"]
    assert _article_numbers(d, 1) == list(range(1, 52))


def test_mid_word_split_rejoined_across_the_title_block(corpus: Corpus) -> None:
    # In the file "…适时将统账一过" ends a page, the 87号 title block follows, and the
    # next page opens with "渡到统账二". The article must read whole.
    d = corpus.get("嘉政发〔2014〕87号")
    art10 = next(c for c in d.clauses if c.label == "第十条")
    assert "适时将统账一过渡到统账二" in art10.text
    assert "嘉政发" not in art10.text and "认真贯彻实施" not in art10.text


def test_title_block_moved_before_the_body(corpus: Corpus) -> None:
    d = corpus.get("嘉政发〔2014〕87号")
    text = d.text
    assert text.index("嘉政发〔2014〕87号") < text.index("第一条")
    assert text.index("认真贯彻实施") < text.index("第一条")
    first = d.clauses[0]
    assert "七届市政府第36次常务会议" in re.sub(r"\s", "", first.text)


def test_no_clause_holds_a_title_block_page_number_or_header(corpus: Corpus) -> None:
    anchors = re.compile(r"^\s*嘉政办?发〔\d{4}〕\d+号\s*$", re.M)
    for d in gazette_docs(corpus):
        for c in d.clauses:
            assert not anchors.search(c.text), (d.doc_no, c.label)
            assert "嘉兴政报" not in c.text, (d.doc_no, c.label)
            assert not re.search(r"^\s*\d{1,3}\s*[·窑]\s*[·窑]?\s*$", c.text, re.M)
            others = [o.title for o in gazette_docs(corpus) if o.doc_no and o is not d]
            for t in others:
                assert t not in c.text.replace("\n", ""), (d.doc_no, c.label, t)


def test_real_words_kept_and_punctuation_repaired(corpus: Corpus) -> None:
    d = corpus.get("嘉政发〔2014〕87号")
    all_text = "".join(c.text for c in d.clauses)
    assert "定点医疗机构" in all_text and "医院" in all_text
    for moji in "袁遥尧渊冤叶曳":
        assert all_text.count(moji) == 0, moji
    art14 = next(c for c in d.clauses if c.label == "第十四条")
    assert "男满25年、女满20年" in re.sub(r"\s", "", art14.text)


def test_listed_not_printed_reported(corpus: Corpus) -> None:
    listed = {d.doc_no: d for d in corpus.documents if not d.printed}
    assert "嘉政发〔2014〕89号" in listed and "嘉政办发〔2014〕100号" in listed
    assert listed["嘉政发〔2014〕89号"].clauses == []
    # contents-page misprints of printed documents are not reported as missing
    assert "嘉政办发〔2016〕10号" not in listed


def test_two_plans_in_one_document_kept_apart(corpus: Corpus) -> None:
    d = corpus.get("嘉政办发〔2017〕18号")
    assert d.attachments == [
        "2017年嘉兴市市级政府投资项目计划",
        "2017年嘉兴市市级政府投资信息化项目计划",
    ]
    by_part = {p: [c.label for c in d.clauses if c.part == p] for p in (1, 2)}
    assert "一、" in by_part[1] and "一、" in by_part[2]
    assert all(c.part_title == d.attachments[c.part - 1] for c in d.clauses if c.part)


def test_unnumbered_items_have_kinds(corpus: Corpus) -> None:
    kinds = {(d.title, d.kind) for d in corpus.documents if not d.doc_no and d.source in GAZETTES}
    assert ("市政府人事任免(2017年2、3月份)", "personnel") in kinds
    assert ("新年献词", "news") in kinds
    news_pages = [d for d in corpus.documents if d.title.startswith("政务动态")]
    assert len(news_pages) == 1
    # the 115号 text interleaved with the news pages went back to its document
    d115 = corpus.get("嘉政办发〔2014〕115号")
    text115 = re.sub(r"\s", "", "".join(c.text for c in d115.clauses))
    assert "高中段教育任务的学校（幼儿园）" in text115
    assert "正常学生生均公用经费的5倍及以上拨付" in text115
    assert "副市长" not in "".join(c.text for c in d115.clauses)


@pytest.mark.parametrize("doc_no", ["嘉政发〔2014〕87号", "嘉政办发〔2017〕16号"])
def test_clause_spans_point_into_the_source(corpus: Corpus, doc_no: str) -> None:
    d = corpus.get(doc_no)
    src = corpus.sources[d.source].repaired_text.split("\n")
    for c in d.clauses:
        assert c.span is not None and 1 <= c.span.start_line <= c.span.end_line <= len(src)
        head = unicodedata.normalize("NFKC", re.sub(r"\s", "", c.text))[:6]
        window = re.sub(r"\s|#", "", "".join(src[c.span.start_line - 1 : c.span.end_line]))
        window = unicodedata.normalize("NFKC", window)
        assert head in window, (c.label, head)


def test_98_kept_whole_across_pages(corpus: Corpus) -> None:
    # 98号 runs on over the page that holds the 99号 title block: the rest of 三、（四）
    # ("…《浙江省居住" + "证》在有效期限内的…") and all of 四、 belong to 98号, not to 99号,
    # whose attached plan starts at "1 总则". Its own preamble ("为进一步完善…") follows
    # 88号's attachment note "（可登陆…网址：…）" and belongs to 98号 too.
    d98 = corpus.get("嘉政办发〔2014〕98号")
    d99 = corpus.get("嘉政办发〔2014〕99号")
    d88 = corpus.get("嘉政发〔2014〕88号")
    flat98 = re.sub(r"\s", "", "".join(c.text for c in d98.clauses))
    transitional = next(c for c in d98.clauses if c.label == "三、（四）")
    assert "《浙江省居住证》在有效期限内的，持证人仍然可以享受原有的待遇" in re.sub(
        r"\s", "", transitional.text
    )
    assert "四、" in [c.label for c in d98.clauses]
    assert flat98.endswith("领导小组办公室。")
    assert "为进一步完善和创新我市流动人口管理服务" in flat98
    assert "〔此条款由各县(市、区)结合各自实际制订具体条件和操作办法〕" in flat98
    text99 = "".join(c.text for c in d99.clauses)
    assert "居住证" not in text99 and "四、" not in [c.label for c in d99.clauses]
    assert d99.clauses[1].label == "1.1"
    flat88 = re.sub(r"\s", "", "".join(c.text for c in d88.clauses))
    assert flat88.endswith("网址：http://www.jiaxing.gov.cn）")
    assert "流动人口" not in flat88


def test_104_keeps_its_last_section_that_the_105_page_holds(corpus: Corpus) -> None:
    # The page where 105号 starts prints 105号's opening, its title block, then the other
    # column: the end of 104号 (三、（四）3.'s last paragraph and 四、保障措施).
    d104 = corpus.get("嘉政办发〔2014〕104号")
    d105 = corpus.get("嘉政办发〔2014〕105号")
    labels104 = [c.label for c in d104.clauses]
    assert labels104[-4:] == ["四、（一）", "四、（二）", "四、（三）", "四、（四）"]
    flat104 = re.sub(r"\s", "", "".join(c.text for c in d104.clauses))
    assert "嘉通集团尽快完成全市大型客车驾驶员培训场地建设" in flat104
    assert "老年人、学生、残疾人" in flat104  # the 乘车优惠 subsidy
    flat105 = "".join(c.text for c in d105.clauses)
    for text in ("公交", "嘉通集团", "乘车优惠"):
        assert text not in flat105, text
    first = next(c for c in d105.clauses if c.label == "一、（一）")
    assert re.sub(r"\s", "", first.text).startswith(
        "（一）肖培生市长担任主要负责人的市级议事协调和临时机构。1.市全面推进依法行政"
    )


def test_112_attaches_four_texts_as_four_parts(corpus: Corpus) -> None:
    d = corpus.get("嘉政办发〔2014〕112号")
    assert d.attachments == [
        "嘉兴市深化环境资源要素市场化配置改革的若干意见",
        "嘉兴市环境资源要素指标量化管理办法（试行）",
        "嘉兴市加强排污权使用绩效评价促进产业转型升级的实施意见",
        "嘉兴市排污权有偿使用和交易办法",
    ]
    by_part: dict[int, list[str]] = {}
    for c in d.clauses:
        by_part.setdefault(c.part, []).append(c.label)
    assert by_part[1][:3] == ["序言", "一、", "二、"]
    assert by_part[2][0] == "第一条" and by_part[2][-1] == "第二十一条"
    assert by_part[3][:2] == ["序言", "一、"]
    assert by_part[4][0] == "第一条" and by_part[4][-1] == "第三十八条"
    # the displaced title no longer splits 第四条 ("…存" + "量盘活指标")
    art4 = next(c for c in d.clauses if c.part == 2 and c.label == "第四条")
    assert "新增指标、存量盘活指标" in re.sub(r"\s", "", art4.text)
    assert "管理办法" not in art4.text


def test_113_notice_before_its_attached_opinion(corpus: Corpus) -> None:
    d = corpus.get("嘉政办发〔2014〕113号")
    assert d.attachments == ["关于加强综合行政执法协作配合的意见"]
    assert [c.label for c in d.clauses if c.part == 0] == ["序言"]
    labels = [c.label for c in d.clauses if c.part == 1]
    assert labels[:4] == ["序言", "一、", "二、（一）1.", "二、（一）2."]
    item1 = next(c for c in d.clauses if c.label == "二、（一）1.")
    assert "每半年召开1次，并视工作需要，可即时安排召开" in re.sub(r"\s", "", item1.text)


def test_personnel_title_brackets_repaired(corpus: Corpus) -> None:
    titles = {d.title for d in corpus.documents if d.kind == "personnel"}
    assert "市政府人事任免（2014年8月、12月份）" in titles


def test_every_gold_citation_names_a_known_clause_or_nested_item(corpus: Corpus) -> None:
    # Gold sets cite nested items (二、（一）1.（3）, 第二十条（四）, 3.3.2（1）) that retrieval
    # returns inside their clause; they count as known.
    from pathlib import Path

    from rag.eval.gold import read_gold
    from rag.eval.run import check_gold_refs, known_refs

    known = known_refs(corpus.clauses())
    assert "三、（一）3." in known["嘉政发〔2014〕88号"]
    assert "4.3.2.4（3）" in known["嘉政办发〔2014〕99号"]
    gold = sorted((Path(__file__).resolve().parent.parent / "eval" / "gold").glob("*.jsonl"))
    assert len(gold) >= 5
    for path in gold:
        assert check_gold_refs(read_gold(path), known) == [], path.name
