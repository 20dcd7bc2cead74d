"""Hybrid retrieval over a small index built with the FakeEmbedder."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from rag.errors import IndexError_, InputError, RagError
from rag.index.embedders import FakeEmbedder
from rag.index.store import LoadedIndex, build_index, load_index
from rag.models import Clause, Document, Hit
from rag.retrieve.hybrid import Filters, Retriever, normalize_doc_no, retriever_from_settings
from rag.retrieve.rerank import CrossEncoderReranker, make_reranker
from rag.settings import Settings

D735 = ("国务院令第735号", "医疗保障基金使用监督管理条例")
TJ = ("", "天津市基本医疗保险条例")
JX = ("嘉政发〔2014〕87号", "嘉兴市职工基本医疗保险暂行办法")

ROWS = [
    (D735, "第八条", "医疗保障基金使用应当符合国家规定的支付范围。"),
    (
        D735,
        "第十九条",
        "参保人员不得利用其享受医疗保障待遇的机会转卖药品，接受返还现金、实物或者获得其他非法利益。",
    ),
    (D735, "第二十一条", "医疗保障基金专款专用，任何组织和个人不得侵占或者挪用。"),
    (
        D735,
        "第二十九条",
        "开展医疗保障基金使用监督检查，监督检查人员不得少于2人，并且应当出示执法证件。",
    ),
    (D735, "第三十五条", "任何组织和个人有权对侵害医疗保障基金的违法违规行为进行举报、投诉。"),
    (
        TJ,
        "第十九条",
        "基本医疗保险基金支付的医疗费用设置起付标准、最高支付限额、支付比例。超过起付标准、"
        "最高支付限额以下的，由基本医疗保险基金和个人按照规定的支付比例分担。",
    ),
    (TJ, "第二十一条", "符合本市建立家庭病床规定条件的，参保人员可以申请家庭病床治疗。"),
    (
        TJ,
        "第二十五条",
        "职工基本医疗保险基金由统筹基金和个人账户组成。职工个人缴纳的基本医疗保险费全部计入个人账户。",
    ),
    (
        JX,
        "第十四条",
        "参保人员住院发生的符合规定的医疗费用，起付标准以上、最高支付限额以下部分，"
        "由统筹基金按比例支付。",
    ),
    (JX, "第十五条", "参加职工基本医疗保险统账二的人员，门诊医疗费用先由个人账户支付。"),
]
DOCS = [
    Document(doc_no=D735[0], title=D735[1], issuer="国务院", date="2021-01-15"),
    Document(doc_no="", title=TJ[1], issuer="天津市人民代表大会常务委员会", date="2019-12-11"),
    Document(doc_no=JX[0], title=JX[1], issuer="嘉兴市人民政府", date="2014-12-30"),
]


def make_clauses() -> list[Clause]:
    seqs: dict[str, int] = {}
    out = []
    for (doc_no, title), label, text in ROWS:
        seq = seqs.get(title, 0)
        seqs[title] = seq + 1
        out.append(Clause(doc_no=doc_no, doc_title=title, label=label, text=text, seq=seq))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[LoadedIndex, FakeEmbedder]:
    d = tmp_path_factory.mktemp("idx") / "index"
    emb = FakeEmbedder(dim=128)
    build_index(make_clauses(), emb, d, progress=False, documents=DOCS)
    return load_index(d, emb.name), emb


def labels(hits: list[Hit]) -> list[tuple[str, str]]:
    return [(h.clause.doc_title[:2], h.clause.label) for h in hits]


def test_keyword_query_finds_clause_by_bm25(built) -> None:
    li, emb = built
    r = Retriever(li, emb)
    hits = r.search("家庭病床", k=3)
    assert labels(hits)[0] == ("天津", "第二十一条")
    assert "bm25" in hits[0].sources
    only_bm25 = Retriever(li, None, dense_weight=0.0)
    top = only_bm25.search("统账二 门诊", k=1)[0]
    assert (top.clause.label, top.sources) == ("第十五条", ["bm25"])


def test_near_paraphrase_found_by_dense(built) -> None:
    li, emb = built
    r = Retriever(li, emb, bm25_weight=0.0)
    hits = r.search("参保人员不能转卖药品或者接受返还的现金", k=3)
    assert labels(hits)[0] == ("医疗", "第十九条")
    # found by its clause vector and by the vector of its best answer unit
    assert hits[0].sources == ["dense", "units"]
    detailed = r.search_detailed("医疗保障基金专款专用，不得侵占挪用", k=1)[0]
    assert detailed.hit.clause.label == "第二十一条"
    assert detailed.dense_score is not None and 0.5 < detailed.dense_score <= 1.0001
    assert detailed.dense_rank == 1 and detailed.bm25_rank is None


def test_hybrid_scores_sources_and_order(built) -> None:
    li, emb = built
    hits = Retriever(li, emb).search("住院医疗费用起付标准以上由统筹基金支付", k=5)
    assert labels(hits)[0] == ("嘉兴", "第十四条")
    assert hits[0].sources == ["dense", "bm25", "units"]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[-1] > 0 and scores[0] <= 1.0
    assert len(hits) == 5


def test_filters(built) -> None:
    li, emb = built
    r = Retriever(li, emb)
    q = "起付标准 最高支付限额"
    by_no = r.search(q, k=10, filters=Filters(doc_no="嘉政发[2014]87 号"))
    assert {h.clause.doc_no for h in by_no} == {JX[0]}
    by_title = r.search(q, k=10, filters=Filters(doc_no=TJ[1]))  # no 文号: title works
    assert {h.clause.doc_title for h in by_title} == {TJ[1]}
    by_issuer = r.search(q, k=10, filters=Filters(issuer="天津"))
    assert by_issuer and {h.clause.doc_title for h in by_issuer} == {TJ[1]}
    recent = r.search(q, k=10, filters=Filters(date_from="2019-06"))
    assert {h.clause.doc_title for h in recent} == {TJ[1], D735[1]}
    old = r.search(q, k=10, filters=Filters(date_to="2019"))
    assert {h.clause.doc_title for h in old} == {TJ[1], JX[1]}
    window = r.search(q, k=10, filters=Filters(date_from="2015", date_to="2020-01-01"))
    assert {h.clause.doc_title for h in window} == {TJ[1]}
    assert r.search(q, k=10, filters=Filters(kind="news")) == []
    assert r.search(q, k=10, filters=Filters(kind="document"))
    assert Filters().is_empty()
    with pytest.raises(InputError):
        Filters(date_from="2019/01/01")


def test_pinned_lookup_comes_first(built) -> None:
    li, emb = built
    r = Retriever(li, emb)
    target = li.clauses[9]  # 嘉兴 第十五条
    hits = r.search("统账二 门诊 个人账户", k=3, pinned=[target])
    assert hits[0].clause == target and hits[0].score == 1.0
    assert hits[0].sources[0] == "lookup" and "bm25" in hits[0].sources
    assert len(hits) == 3 and target not in [h.clause for h in hits[1:]]

    outside = Clause("嘉政发〔2017〕11号", "未入索引的文件", "第一条", "不在索引中的条文")
    hits = r.search("家庭病床", k=2, pinned=[outside, outside])
    assert hits[0].clause is outside and hits[0].sources == ["lookup"]
    assert labels(hits)[1] == ("天津", "第二十一条")

    looked_up: list[str] = []

    def lookup(q: str) -> list[Clause]:
        looked_up.append(q)
        return [li.clauses[0]] if "87号文" in q or "735" in q else []

    r2 = Retriever(li, emb, lookup=lookup)
    hits = r2.search("  735号令 第八条 ", k=1)
    assert looked_up == ["735号令 第八条"] and hits[0].clause.label == "第八条"
    assert hits[0].sources[0] == "lookup"
    assert r2.search("家庭病床", k=1)[0].clause.label == "第二十一条"


def test_empty_query_and_bad_arguments(built) -> None:
    li, emb = built
    r = Retriever(li, emb)
    for q in ("", "   ", "\n\t"):
        with pytest.raises(InputError):
            r.search(q)
    with pytest.raises(InputError):
        r.search("医保", k=0)
    with pytest.raises(InputError):
        Retriever(li, emb, dense_weight=0, bm25_weight=0)
    with pytest.raises(InputError):
        Retriever(li, None)
    assert Retriever(li, emb).search("的 了 吗", k=3)  # stopwords only: dense still answers


def test_embedder_mismatch_is_refused(built) -> None:
    li, _ = built
    with pytest.raises(IndexError_, match="rag index --rebuild"):
        Retriever(li, FakeEmbedder(dim=64))


def test_deterministic_across_calls_and_builds(built, tmp_path: Path) -> None:
    li, emb = built
    r = Retriever(li, emb)
    queries = ["住院能报多少", "骗保举报", "个人账户", "87号文第十四条", "监督检查几个人"]
    first = [[(h.clause.id, h.score, tuple(h.sources)) for h in r.search(q, 5)] for q in queries]
    again = [[(h.clause.id, h.score, tuple(h.sources)) for h in r.search(q, 5)] for q in queries]
    assert first == again
    d2 = tmp_path / "again"
    build_index(make_clauses(), FakeEmbedder(128), d2, progress=False, documents=DOCS)
    r2 = Retriever(load_index(d2, emb.name), FakeEmbedder(128))
    other = [[(h.clause.id, h.score, tuple(h.sources)) for h in r2.search(q, 5)] for q in queries]
    assert first == other


def test_ties_are_broken_by_index_order(tmp_path: Path) -> None:
    # three clauses with identical embedded text (only seq differs): exact score ties
    twins = [
        Clause("X〔2024〕1号", "同文", "第一条", "完全相同的条文内容", seq=i) for i in range(3)
    ]
    emb = FakeEmbedder()
    build_index(twins, emb, tmp_path / "i", progress=False)
    li = load_index(tmp_path / "i", emb.name)
    for r in (
        Retriever(li, emb),
        Retriever(li, emb, bm25_weight=0),
        Retriever(li, None, dense_weight=0),
    ):
        hits = r.search("相同的条文内容", k=3)
        assert [h.clause.seq for h in hits] == [0, 1, 2]
        assert hits[0].score == hits[1].score == hits[2].score


def test_concurrent_searches_match_sequential(built) -> None:
    li, emb = built
    r = Retriever(li, emb)
    queries = ["家庭病床", "起付标准", "统账二", "举报投诉", "转卖药品", "专款专用"] * 5
    expected = [[h.clause.id for h in r.search(q, 4)] for q in queries]
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda q: [h.clause.id for h in r.search(q, 4)], queries))
    assert got == expected


def test_filtered_dense_search_on_hnsw(tmp_path: Path) -> None:
    emb = FakeEmbedder()
    build_index(
        make_clauses(), emb, tmp_path / "h", faiss_kind="hnsw", progress=False, documents=DOCS
    )
    r = Retriever(load_index(tmp_path / "h", emb.name), emb, bm25_weight=0)
    hits = r.search("起付标准 统筹基金", k=10, filters=Filters(issuer="嘉兴"))
    assert hits and {h.clause.doc_no for h in hits} == {JX[0]}


class ReverseReranker:
    name = "reverse"

    def score(self, query: str, texts: list[str]) -> list[float]:
        return [float(i) for i in range(len(texts))]  # later candidates score higher


def test_reranker_reorders_candidates(built) -> None:
    li, emb = built
    plain = Retriever(li, emb, candidates=4).search("起付标准", k=4)
    reranked = Retriever(li, emb, candidates=4, reranker=ReverseReranker()).search("起付标准", k=4)
    assert [h.clause.id for h in reranked] == [h.clause.id for h in plain][::-1]
    assert reranked[0].score == 3.0


def test_make_reranker(tmp_path: Path) -> None:
    assert make_reranker("") is None and make_reranker(None) is None
    with pytest.raises(RagError, match="does not exist"):
        make_reranker(tmp_path / "missing")
    rr = make_reranker(tmp_path)
    assert isinstance(rr, CrossEncoderReranker) and rr.score("q", []) == []
    with pytest.raises(RagError, match="cannot load reranker"):
        rr.score("q", ["text"])


def test_retriever_from_settings(built) -> None:
    li, emb = built
    s = Settings(rrf_k=10, dense_weight=0.5, bm25_weight=2.0, candidates=7)
    r = retriever_from_settings(li, emb, s)
    assert (r.rrf_k, r.dense_weight, r.bm25_weight, r.candidates) == (10, 0.5, 2.0, 7)
    assert r.reranker is None


def test_normalize_doc_no() -> None:
    assert normalize_doc_no("嘉政发 [2014] 87 号") == normalize_doc_no("嘉政发〔2014〕87号")


def test_langchain_retriever(built) -> None:
    from langchain_core.documents import Document as LCDocument

    from rag.retrieve.langchain import PolicyRetriever

    li, emb = built
    lc = PolicyRetriever(retriever=Retriever(li, emb), k=2)
    docs = lc.invoke("家庭病床")
    assert len(docs) == 2 and all(isinstance(d, LCDocument) for d in docs)
    top = docs[0]
    assert top.page_content == "符合本市建立家庭病床规定条件的，参保人员可以申请家庭病床治疗。"
    assert top.metadata["clause"] == "第二十一条" and top.metadata["title"] == TJ[1]
    assert set(top.metadata) == {"doc_no", "clause", "title", "score", "sources", "clause_id"}
    assert top.metadata["clause_id"] == li.clauses[6].id
    filtered = PolicyRetriever(retriever=Retriever(li, emb), k=5, filters=Filters(kind="news"))
    assert filtered.invoke("家庭病床") == []
