"""Clause facets, answer units and the vector cache, on clauses of the shipped corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.answer.estimate import estimate_inpatient, inpatient_parameters
from rag.index.cache import VectorCache
from rag.index.embedders import FakeEmbedder
from rag.index.facets import agreement, figure_kinds, text_facets
from rag.index.store import build_index, clause_units, load_index
from rag.ingest.store import Corpus
from rag.models import Clause

DOC87 = "嘉政发〔2014〕87号"


def _clause(corpus: Corpus, doc: str, label: str) -> Clause:
    return next(c for c in corpus.get(doc).clauses if c.label == label)


def test_facets_of_the_inpatient_share_clause(corpus: Corpus) -> None:
    f = text_facets(_clause(corpus, DOC87, "第二十三条（二）").text)
    assert f["service"] == ["住院"]
    assert f["level"] == ["一级", "二级", "三级"]
    assert f["status"] == ["退休"]
    assert "ratio" in f["figures"] and "money" not in f["figures"]


def test_facets_of_the_outpatient_clause(corpus: Corpus) -> None:
    f = text_facets(_clause(corpus, DOC87, "第二十三条（一）").text)
    assert f["service"] == ["门诊", "药店"] and set(f["status"]) == {"在职", "退休"}
    assert {"money", "ratio"} <= set(f["figures"])


def test_figure_kinds() -> None:
    assert figure_kinds("自2015年1月1日起施行") == ["date"]
    assert {"money", "age"} <= set(figure_kinds("以1000元/年的标准一次性趸缴至75周岁"))
    assert figure_kinds("30日内办理") == ["duration"]


def test_agreement_with_the_callers_facts() -> None:
    clause = {"service": ["住院"], "level": ["一级", "二级", "三级"]}
    assert agreement({"service": ["住院"], "level": ["三级"]}, clause) == {
        "service": 1,
        "level": 1,
    }
    assert agreement({"service": ["门诊"]}, clause) == {"service": -1}
    assert agreement({"scheme": ["职工"]}, clause) == {"scheme": 0}


def test_answer_units_are_verbatim_slices_with_facets(corpus: Corpus) -> None:
    c = _clause(corpus, DOC87, "第二十三条（二）")
    units = clause_units(c, 7)
    assert len(units) == 2
    assert all(c.text[u.start : u.end] == u.text and u.clause == 7 for u in units)
    assert units[1].text.startswith("退休人员") and units[1].facets["status"] == ["退休"]


def test_vector_cache_round_trip_and_segments(tmp_path: Path) -> None:
    cache = VectorCache(tmp_path, "fake:test", 4)
    vs = np.arange(8, dtype=np.float32).reshape(2, 4)
    cache.put(["a" * 32, "b" * 32], vs)
    cache.put(["b" * 32, "c" * 32], vs + 10)  # b is known: kept as first written
    again = VectorCache(tmp_path, "fake:test", 4)
    got = again.get(["a" * 32, "b" * 32, "c" * 32, "d" * 32])
    assert set(got) == {"a" * 32, "b" * 32, "c" * 32}
    assert np.array_equal(got["b" * 32], vs[1]) and np.array_equal(got["c" * 32], vs[1] + 10)
    files = list((tmp_path / "fake_test-4").glob("seg-*.npz"))
    assert len(files) == 2
    again.compact()
    assert len(list((tmp_path / "fake_test-4").glob("seg-*.npz"))) == 1
    assert len(VectorCache(tmp_path, "fake:test", 4)) == 3
    # another model's vectors are never returned
    assert VectorCache(tmp_path, "fake:test", 8).get(["a" * 32]) == {}


class _Counting(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__(32)
        self.n = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.n += len(texts)
        return super().embed_passages(texts)


def test_a_rebuild_of_an_unchanged_corpus_embeds_nothing(tmp_path: Path, corpus: Corpus) -> None:
    clauses = corpus.get(DOC87).clauses
    emb = _Counting()
    cache = VectorCache(tmp_path / "cache", emb.name, emb.dim)
    rep = build_index(clauses, emb, tmp_path / "a", progress=False, cache=cache)
    first = emb.n
    assert first == rep.n_embedded + rep.n_units_embedded > len(clauses)
    # a new index directory: nothing to reuse but the cache
    rep2 = build_index(clauses, emb, tmp_path / "b", progress=False, cache=cache)
    assert emb.n == first and rep2.n_embedded == 0 and rep2.n_units_embedded == 0
    a, b = load_index(tmp_path / "a", emb.name), load_index(tmp_path / "b", emb.name)
    assert np.array_equal(np.asarray(a.unit_vectors), np.asarray(b.unit_vectors))
    assert [u.text for u in a.units] == [u.text for u in b.units]
    assert a.facets == b.facets and len(a.clause_units) == len(clauses)


def test_estimate_on_87s_figures(corpus: Corpus) -> None:
    clauses = corpus.get(DOC87).clauses
    ded, rat, retired, cap = inpatient_parameters(clauses)
    assert {k: v.value for k, v in ded.items()} == {"一级": 300, "二级": 500, "三级": 800}
    assert {k: v.value for k, v in rat.items()} == {"一级": 90, "二级": 85, "三级": 80}
    assert retired is not None and retired.value == 5 and cap is not None and cap.value == 200000
    cite: dict[str, int] = {}
    est = estimate_inpatient(20000, clauses, level="三级", retired=True, cite=cite)
    assert est is not None and len(est.lines) == 1
    # (20000 − 800) × (80% + 5) = 16320
    assert "统筹基金约支付16,320元" in est.lines[0] and "个人负担约3,680元" in est.lines[0]
    labels = {c.label for c in est.clauses}
    assert labels == {"第二十五条", "第二十三条（二）"}


def test_no_estimate_when_a_parameter_is_missing(corpus: Corpus) -> None:
    clauses = [c for c in corpus.get(DOC87).clauses if c.label != "第二十五条"]
    assert estimate_inpatient(20000, clauses, level="三级", retired=False, cite={}) is None
    # texts that give no 起付标准 by level (上海) give no estimate either
    sh = corpus.get("上海市医疗保障条例").clauses
    assert estimate_inpatient(20000, sh, level=None, retired=None, cite={}) is None


def test_estimate_per_case_when_the_level_is_open(corpus: Corpus) -> None:
    est = estimate_inpatient(20000, corpus.get(DOC87).clauses, level=None, retired=False, cite={})
    assert est is not None and [ln[:2] for ln in est.lines] == ["一级", "二级", "三级"]
    assert "统筹基金约支付15,360元" in est.lines[2]  # (20000 − 800) × 80%


@pytest.mark.parametrize("amount", [300.0, 100.0])
def test_a_bill_below_the_deductible_is_paid_by_the_caller(corpus: Corpus, amount: float) -> None:
    est = estimate_inpatient(
        amount, corpus.get(DOC87).clauses, level="一级", retired=False, cite={}
    )
    assert est is not None and "统筹基金约支付0元" in est.lines[0]
