"""Evaluation metrics on hand-made cases with known values."""

from __future__ import annotations

import random

import pytest

from rag.eval.metrics import (
    HEADLINE,
    METRICS,
    ItemScore,
    Ref,
    aggregate,
    bootstrap_ci,
    char_f1,
    citation_scores,
    clause_match,
    doc_key,
    figure_hallucination,
    key_fact_recall,
    latency_stats,
    lcs_length,
    normalize_text,
    retrieval_scores,
    rouge_l,
    score_item,
)

DOC = "嘉政发〔2014〕87号"
OTHER = "嘉政办发〔2015〕1号"


# --------------------------------------------------------------------------- text


def test_normalize_text() -> None:
    assert normalize_text("在三十日内，发放 290 元。") == "在30日内发放290元"
    assert normalize_text("百分之八十") == "80%"
    assert normalize_text("利率 3.5％；") == "利率3.5%"
    assert normalize_text("二〇一四年") == "2014年"
    assert normalize_text("《ABC办法》") == "abc办法"
    assert normalize_text("每月290元。[1]每年[12]") == "每月290元每年"


def test_key_fact_recall_chinese_numeral() -> None:
    assert key_fact_recall("应当在三十日内办结。", ["30日"]) == 1.0
    assert key_fact_recall("补助标准为每人每月290元", ["290元", "30日"]) == 0.5
    assert key_fact_recall("补助 百分之八十", ["80%"]) == 1.0


def test_key_fact_recall_digit_boundaries_and_empty() -> None:
    assert key_fact_recall("每月1290元", ["290元"]) == 0.0
    assert key_fact_recall("每月290.5元", ["290"]) == 0.0
    assert key_fact_recall("任何回答", []) is None
    assert key_fact_recall("任何回答", ["", "  "]) is None


def test_char_f1() -> None:
    assert char_f1("abcd", "abce") == pytest.approx(0.75)
    assert char_f1("每月补贴", "每月补助") == pytest.approx(0.75)
    assert char_f1("", "每月补助") == 0.0
    assert char_f1("每月补助", "") is None
    assert char_f1("每月，补助。", "每月补助") == 1.0  # punctuation ignored


def _lcs_dp(a: str, b: str) -> int:
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def test_lcs_length_known_and_against_dp() -> None:
    assert lcs_length("ABCBDAB", "BDCABA") == 4
    assert lcs_length("", "abc") == 0
    assert lcs_length("在30日内办结", "应当在30日内办结完毕") == 7
    rng = random.Random(7)
    for _ in range(200):
        a = "".join(rng.choice("甲乙丙丁ab") for _ in range(rng.randint(0, 30)))
        b = "".join(rng.choice("甲乙丙丁ab") for _ in range(rng.randint(0, 30)))
        assert lcs_length(a, b) == _lcs_dp(a, b)


def test_rouge_l() -> None:
    # gold normalises to 应当在30日内办结完毕 (11 chars), the answer to 在30日内办结 (7):
    # P = 1, R = 7/11
    assert rouge_l("在三十日内办结。", "应当在三十日内办结完毕。") == pytest.approx(14 / 18)
    assert rouge_l("完全无关", "应当办结") == 0.0
    assert rouge_l("abc", "") is None
    assert rouge_l("每月补助", "每月补助") == 1.0


def test_figure_hallucination() -> None:
    src = ["补贴标准为每人每月290元，应在30日内发放。"]
    # 290元 and 30日 (written 三十日) are supported; 80% is not
    assert figure_hallucination("补贴290元，期限三十日，比例80%", src) == pytest.approx(1 / 3)
    assert figure_hallucination("按规定办理。", src) == 0.0
    assert figure_hallucination("30日内", ["130日内"]) == 1.0
    # citation markers are not figures; the cited 文号 supports its own numbers
    assert figure_hallucination("依据嘉政发〔2014〕87号，每月290元。[1]［2］", [*src, DOC]) == 0.0
    # a figure repeated counts once
    assert figure_hallucination("80%，80%，290元", src) == pytest.approx(1 / 2)


# --------------------------------------------------------------------------- citations


def test_doc_key_unifies_brackets_and_titles() -> None:
    assert doc_key("嘉政发[2014]87号") == doc_key(DOC)
    assert doc_key("嘉政发（2014）87号") == doc_key(DOC)
    assert doc_key("", "《关于调整标准的通知》") == doc_key("", "关于调整标准的通知")
    assert doc_key("", "关于调整标准的通知") != doc_key("", "另一个通知")


def test_clause_match_strict_and_lenient() -> None:
    assert clause_match("第十四条", "第14条", lenient=False)
    assert not clause_match("第二十三条", "第二十三条（一）", lenient=False)
    assert clause_match("第二十三条", "第二十三条（一）", lenient=True)
    assert clause_match("二、（一）", "二、（一）1.", lenient=True)
    assert not clause_match("二、（一）", "二、（一）1.", lenient=False)
    assert not clause_match("二、（一）", "二、（二）", lenient=True)
    assert not clause_match("第二十三条", "第二十四条", lenient=True)
    assert clause_match("", "第五条", lenient=False)  # whole document


def test_citation_scores_known_values() -> None:
    gold = [Ref.of(DOC, "", "第二十三条"), Ref.of(DOC, "", "第十四条")]
    cited = [Ref.of("嘉政发[2014]87号", "", "第二十三条（一）"), Ref.of(OTHER, "", "第二条")]
    s = citation_scores(cited, gold)
    assert s["citation_doc_precision"] == 0.5
    assert s["citation_doc_recall"] == 1.0
    assert s["citation_clause_precision_strict"] == 0.0
    assert s["citation_clause_recall_strict"] == 0.0
    assert s["citation_clause_precision_lenient"] == 0.5
    assert s["citation_clause_recall_lenient"] == 0.5


def test_citation_scores_document_level_title_and_duplicates() -> None:
    gold = [Ref.of("", "关于调整标准的通知", "")]
    cited = [
        Ref.of("", "《关于调整标准的通知》", "第五条"),
        Ref.of("", "关于调整标准的通知", "第5条"),  # same clause again: counted once
    ]
    s = citation_scores(cited, gold)
    assert s["citation_doc_precision"] == 1.0
    assert s["citation_clause_precision_strict"] == 1.0
    assert s["citation_clause_recall_strict"] == 1.0


def test_citation_scores_nothing_cited() -> None:
    s = citation_scores([], [Ref.of(DOC, "", "第十四条")])
    assert s["citation_doc_precision"] is None
    assert s["citation_clause_precision_lenient"] is None
    assert s["citation_doc_recall"] == 0.0
    assert s["citation_clause_recall_lenient"] == 0.0


def test_retrieval_scores() -> None:
    gold = [Ref.of(DOC, "", "第二十三条"), Ref.of(DOC, "", "第十四条")]
    retrieved = [
        Ref.of(OTHER, "", "第一条"),
        Ref.of(DOC, "", "第二条"),
        Ref.of(DOC, "", "第二十三条（二）"),
        Ref.of(OTHER, "", "第十四条"),  # right label, wrong document
        Ref.of(DOC, "", "第十四条"),
    ]
    s = retrieval_scores(retrieved, gold)
    assert s["retrieval_recall@3"] == 0.5
    assert s["retrieval_recall@5"] == 1.0
    assert s["retrieval_recall@10"] == 1.0
    assert s["mrr@10"] == pytest.approx(1 / 3)
    none = retrieval_scores(retrieved[:2], gold)
    assert none["retrieval_recall@3"] == 0.0
    assert none["mrr@10"] == 0.0
    assert retrieval_scores(retrieved, [])["mrr@10"] is None


# --------------------------------------------------------------------------- items


def _score(**kw: object) -> dict[str, float | None]:
    base: dict[str, object] = {
        "answerable": True,
        "key_facts": ["30日"],
        "gold_answer": "应在三十日内办结。",
        "gold_refs": [Ref.of(DOC, "", "第十四条")],
        "answer": "应在30日内办结。",
        "refused": False,
        "cited": [Ref.of(DOC, "", "第十四条")],
        "cited_sources": ["应在三十日内办结。"],
        "retrieved": [Ref.of(DOC, "", "第十四条")],
    }
    base.update(kw)
    return score_item(**base)  # type: ignore[arg-type]


def test_score_item_correct_answer() -> None:
    m = _score()
    assert set(m) == set(METRICS)
    assert m["key_fact_recall"] == 1.0
    assert m["char_f1"] == 1.0
    assert m["rouge_l"] == 1.0
    assert m["figure_hallucination"] == 0.0
    assert m["citation_clause_recall_strict"] == 1.0
    assert m["retrieval_recall@3"] == 1.0
    assert m["mrr@10"] == 1.0
    assert m["false_refusal_rate"] == 0.0
    assert m["refusal_recall"] is None
    assert m["refusal_precision"] is None
    assert m["refusal_accuracy"] == 1.0


def test_score_item_refusals() -> None:
    # a correct refusal of an unanswerable question
    m = _score(answerable=False, refused=True, answer="现有文件中没有找到。", key_facts=[])
    assert m["refusal_recall"] == 1.0
    assert m["refusal_precision"] == 1.0
    assert m["false_refusal_rate"] is None
    assert m["refusal_accuracy"] == 1.0
    assert m["key_fact_recall"] is None
    assert m["citation_doc_precision"] is None
    assert m["figure_hallucination"] is None
    # a false refusal: the nearest clauses it shows are not citations
    m = _score(refused=True, answer="现有文件中没有找到。以下是最接近的条款：应在三十日内办结。")
    assert m["false_refusal_rate"] == 1.0
    assert m["refusal_precision"] == 0.0
    assert m["refusal_accuracy"] == 0.0
    assert m["key_fact_recall"] == 0.0
    assert m["char_f1"] == 0.0
    assert m["citation_doc_precision"] is None
    assert m["citation_doc_recall"] == 0.0
    assert m["retrieval_recall@3"] == 1.0  # retrieval still counts
    # answering an unanswerable question
    m = _score(answerable=False, key_facts=[])
    assert m["refusal_recall"] == 0.0
    assert m["refusal_accuracy"] == 0.0


def test_score_item_hallucinated_figure_and_error() -> None:
    m = _score(answer="应在60日内办结。")
    assert m["figure_hallucination"] == 1.0
    assert m["key_fact_recall"] == 0.0
    e = _score(answer="", refused=True, cited=[], error=True)
    assert e["key_fact_recall"] == 0.0
    assert e["false_refusal_rate"] == 0.0  # an error is not a refusal: just wrong
    assert e["refusal_accuracy"] == 1.0
    assert e["citation_doc_recall"] == 0.0
    assert e["figure_hallucination"] is None


# --------------------------------------------------------------------------- aggregation


def _item(
    i: int,
    *,
    metrics: dict[str, float | None] | None = None,
    persona: str = "citizen",
    tags: list[str] | None = None,
    answerable: bool = True,
    refused: bool = False,
) -> ItemScore:
    m: dict[str, float | None] = dict.fromkeys(METRICS)
    m.update(metrics or {})
    return ItemScore(
        id=f"q{i}",
        persona=persona,
        tags=tags or [],
        answerable=answerable,
        refused=refused,
        metrics=m,
        timings_ms={"retrieve": 10.0 * i, "answer": 1.0, "total": 10.0 * i + 1},
    )


def test_aggregate_means_latency_and_breakdowns() -> None:
    items = [
        _item(1, tags=["医保"], metrics={"key_fact_recall": 1.0, "false_refusal_rate": 0.0}),
        _item(
            2, tags=["医保", "养老"], metrics={"key_fact_recall": 0.5, "false_refusal_rate": 0.0}
        ),
        _item(
            3,
            persona="clerk",
            answerable=False,
            refused=True,
            metrics={"refusal_recall": 1.0},
        ),
        _item(4, persona="clerk", answerable=False, metrics={"refusal_recall": 0.0}),
    ]
    s = aggregate(items)
    assert s.n_items == 4 and s.n_answerable == 2 and s.n_unanswerable == 2
    assert s.metrics["key_fact_recall"].mean == pytest.approx(0.75)
    assert s.metrics["key_fact_recall"].n == 2
    assert s.metrics["refusal_recall"].mean == pytest.approx(0.5)
    assert s.metrics["false_refusal_rate"].mean == 0.0
    assert s.metrics["char_f1"].mean is None and s.metrics["char_f1"].n == 0
    for name in HEADLINE:
        st = s.metrics[name]
        if st.n:
            assert st.ci_low is not None and st.ci_high is not None
            assert st.ci_low <= st.mean <= st.ci_high  # type: ignore[operator]
    # retrieve timings 10, 20, 30, 40
    assert s.latency_ms["retrieve"]["p50"] == 25.0
    assert s.latency_ms["retrieve"]["p95"] == 38.5
    assert s.latency_ms["total"]["n"] == 4
    assert s.by_persona["citizen"]["key_fact_recall"].mean == pytest.approx(0.75)
    assert s.by_persona["clerk"]["refusal_recall"].mean == pytest.approx(0.5)
    assert s.by_tag["养老"]["key_fact_recall"].mean == 0.5
    assert s.n_by_tag == {"医保": 2, "养老": 1, "(untagged)": 2}
    j = s.to_json()
    assert j["metrics"]["key_fact_recall"]["ci95"][0] <= 0.75
    assert j["by_tag"]["医保"]["n"] == 2


def test_latency_skips_missing_stages() -> None:
    assert latency_stats([{"total": 5.0}, {}]) == {
        "total": {"p50": 5.0, "p95": 5.0, "mean": 5.0, "max": 5.0, "n": 1}
    }


def test_bootstrap_is_deterministic() -> None:
    vals = [1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.25]
    a = bootstrap_ci(vals, seed=3)
    b = bootstrap_ci(vals, seed=3)
    assert a == b
    assert a[0] is not None and a[1] is not None
    assert a[0] < sum(vals) / len(vals) < a[1]
    assert bootstrap_ci(vals, seed=4) != a
    assert bootstrap_ci([]) == (None, None)
    assert bootstrap_ci([0.4]) == (0.4, 0.4)
    assert bootstrap_ci([1.0] * 5) == (1.0, 1.0)
    s1 = aggregate([_item(i, metrics={"key_fact_recall": v}) for i, v in enumerate(vals)])
    s2 = aggregate([_item(i, metrics={"key_fact_recall": v}) for i, v in enumerate(vals)])
    assert s1.to_json() == s2.to_json()
