"""The Milvus backend on Milvus Lite (a local file, no server), over the shipped corpus:
BM25 sparse vectors score exactly like the bm25s index, dense search equals FAISS, filters
select what the retriever's own filters select, and upsert/delete work by clause id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.index.milvus import ClauseRow, MilvusFilter, MilvusIndex, normalize_key, safe_uri
from rag.index.sparse import Bm25Sparse
from rag.index.store import LoadedIndex, bm25_text, load_index
from rag.retrieve.hybrid import Filters

pytest.importorskip("pymilvus", reason="the scale extra (pip install -e '.[scale]')")

QUERIES = [
    "退休人员医保缴费年限要满多少年",
    "住院起付标准",
    "城乡居民基本医疗保险 门诊 报销比例",
    "扩大有效投资",
    "大病保险 起付线",
]


@pytest.fixture(scope="module")
def fake_index(fake_home: Path) -> LoadedIndex:
    return load_index(fake_home / "index", None)


_TOKENS: dict[int, list[list[str]]] = {}


def _tokens(idx: LoadedIndex) -> list[list[str]]:
    """The BM25 tokens of every clause (computed once per index)."""
    if id(idx) not in _TOKENS:
        _TOKENS[id(idx)] = [idx.tokenizer.tokens(bm25_text(c)) for c in idx.clauses]
    return _TOKENS[id(idx)]


@pytest.fixture(scope="module")
def bm25(fake_index: LoadedIndex) -> Bm25Sparse:
    return Bm25Sparse.fit(_tokens(fake_index))


def _by_token(model: Bm25Sparse, vec: dict[int, float]) -> dict[str, float]:
    names = {i: t for t, i in model.vocab.items()}
    return {names[i]: w for i, w in vec.items()}


def _rows(idx: LoadedIndex, bm25: Bm25Sparse) -> list[ClauseRow]:
    return [
        ClauseRow(
            id=c.id,
            dense=idx.vectors[i],
            sparse=bm25.doc_vector(toks),
            seq=i,
            doc_no=c.doc_no,
            doc_key=c.doc_key,
            **{k: idx.meta[i].get(k, "") for k in ("issuer", "date", "kind")},
        )
        for i, (c, toks) in enumerate(zip(idx.clauses, _tokens(idx), strict=True))
    ]


@pytest.fixture(scope="module")
def milvus(
    tmp_path_factory: pytest.TempPathFactory, fake_index: LoadedIndex, bm25: Bm25Sparse
) -> Iterator[MilvusIndex]:
    uri = str(tmp_path_factory.mktemp("milvus") / "rag.db")
    m = MilvusIndex(uri, "clauses_test", fake_index.dim, dense_index="FLAT")
    m.create(drop=True)
    assert m.upsert(_rows(fake_index, bm25)) == len(fake_index)
    yield m
    m.close()


def test_sparse_bm25_scores_equal_the_bm25s_index(
    fake_index: LoadedIndex, bm25: Bm25Sparse
) -> None:
    docs = [bm25.doc_vector(t) for t in _tokens(fake_index)]
    for q in QUERIES:
        toks = fake_index.tokenizer.tokens(q)
        qv = bm25.query_vector(toks)
        ours = np.array([sum(w * d.get(t, 0.0) for t, w in qv.items()) for d in docs])
        ids = fake_index.bm25.get_tokens_ids(toks)
        theirs = np.asarray(fake_index.bm25.get_scores_from_ids(ids), dtype=np.float64)
        assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-5), q
        assert ours.max() > 0


def test_bm25_statistics_round_trip_and_count_documents_out(
    tmp_path: Path, fake_index: LoadedIndex, bm25: Bm25Sparse
) -> None:
    path = tmp_path / "bm25.json"
    bm25.save(path)
    again = Bm25Sparse.load(path)
    toks = _tokens(fake_index)
    assert again.query_vector(toks[3]) == bm25.query_vector(toks[3])
    assert again.doc_vector(toks[3]) == bm25.doc_vector(toks[3])
    again.remove(toks[:10])
    rest = Bm25Sparse.fit(toks[10:])
    assert again.n_docs == rest.n_docs
    q = fake_index.tokenizer.tokens(QUERIES[0])
    assert _by_token(again, again.query_vector(q)) == pytest.approx(
        _by_token(rest, rest.query_vector(q))
    )


def test_dense_search_equals_exact_faiss(milvus: MilvusIndex, fake_index: LoadedIndex) -> None:
    from rag.index.embedders import FakeEmbedder

    emb = FakeEmbedder()
    for q in QUERIES:
        qv = emb.embed_queries([q])
        scores, ids = fake_index.faiss_index.search(qv, 10)
        got = milvus.dense_search(qv[0], 10)
        assert [p[2] for p in got] == [int(i) for i in ids[0]]
        assert [p[0] for p in got] == [fake_index.clauses[int(i)].id for i in ids[0]]
        assert np.allclose([p[1] for p in got], scores[0], atol=1e-5)


def test_sparse_search_ranks_like_bm25s(
    milvus: MilvusIndex, fake_index: LoadedIndex, bm25: Bm25Sparse
) -> None:
    for q in QUERIES:
        toks = fake_index.tokenizer.tokens(q)
        theirs = np.asarray(
            fake_index.bm25.get_scores_from_ids(fake_index.bm25.get_tokens_ids(toks))
        )
        order = np.lexsort((np.arange(len(theirs)), -theirs))[:10]
        got = milvus.sparse_search(bm25.query_vector(toks), 10)
        assert np.allclose([p[1] for p in got], theirs[order], rtol=1e-4)
        # positions agree except where bm25s's float32 sums tie or differ in the last bit
        same = sum(a[2] == int(b) for a, b in zip(got, order, strict=True))
        assert same >= 8, q


def test_hybrid_search_is_rrf_of_the_two_lists(
    milvus: MilvusIndex, fake_index: LoadedIndex, bm25: Bm25Sparse
) -> None:
    from rag.index.embedders import FakeEmbedder

    q = QUERIES[1]
    qv = FakeEmbedder().embed_queries([q])[0]
    sq = bm25.query_vector(fake_index.tokenizer.tokens(q))
    dense = milvus.dense_search(qv, 20)
    sparse = milvus.sparse_search(sq, 20)
    fused: dict[str, float] = {}
    for hits in (dense, sparse):
        for rank, (cid, _, _) in enumerate(hits, 1):
            fused[cid] = fused.get(cid, 0.0) + 1 / (60 + rank)
    want = sorted(fused.items(), key=lambda kv: -kv[1])[:5]
    got = milvus.hybrid_search(qv, sq, 5, candidates=20, rrf_k=60)
    # the five best fused scores, each hit with its own fused score (equal scores may
    # come in either order: two clauses each first in one list tie at 1/61)
    assert np.allclose([g[1] for g in got], [w[1] for w in want], rtol=1e-4)
    assert all(np.isclose(fused[g[0]], g[1], rtol=1e-4) for g in got)


@pytest.mark.parametrize(
    "f",
    [
        Filters(doc_no="嘉政发[2014]87号"),
        Filters(issuer="嘉兴市人民政府"),
        Filters(issuer="办公室"),
        Filters(date_from="2014", date_to="2014"),
        Filters(date_from="2015-06", date_to="2017-02-16"),
        Filters(kind="document", date_to="2016"),
        Filters(doc_no="嘉政发〔2014〕87号", issuer="嘉兴"),
    ],
)
def test_filters_select_what_the_retriever_selects(
    milvus: MilvusIndex, fake_index: LoadedIndex, f: Filters
) -> None:
    want = {c.id for i, c in enumerate(fake_index.clauses) if f.matches(c, fake_index.meta[i])}
    mf = MilvusFilter(f.doc_no, f.issuer, f.date_from, f.date_to, f.kind)
    rows = milvus.client.query(
        milvus.collection, filter=mf.expression(), output_fields=["id"], limit=16384
    )
    assert {r["id"] for r in rows} == want
    assert want  # each case selects something


def test_upsert_and_delete_by_clause_id(
    tmp_path: Path, fake_index: LoadedIndex, bm25: Bm25Sparse
) -> None:
    m = MilvusIndex(str(tmp_path / "inc.db"), "inc", fake_index.dim, dense_index="FLAT")
    m.create()
    rows = _rows(fake_index, bm25)[:200]
    m.upsert(rows)
    assert m.count() == 200
    gone = [r.id for r in rows if r.doc_key == rows[0].doc_key]
    m.delete(gone)
    assert m.count() == 200 - len(gone)
    assert m.ids() == {r.id for r in rows} - set(gone)
    # a changed clause is replaced in place: its new vector finds it first
    changed = rows[150]
    new_vec = -np.asarray(changed.dense)
    m.upsert([ClauseRow(**{**changed.__dict__, "dense": new_vec, "issuer": '引号"与%号'})])
    assert m.count() == 200 - len(gone)
    assert m.dense_search(new_vec, 1)[0][0] == changed.id
    hit = m.client.query(
        m.collection, filter=MilvusFilter(issuer='"与%').expression(), output_fields=["id"]
    )
    assert [h["id"] for h in hit] == [changed.id]
    assert m.client.query(m.collection, filter=MilvusFilter(issuer="与_").expression()) == []
    m.drop()
    assert not m.exists()
    m.close()


def test_uri_checks_and_secrets_never_recorded(tmp_path: Path) -> None:
    from rag.errors import InputError

    assert safe_uri("http://root:Milvus@db.example:19530") == "http://db.example:19530"
    assert safe_uri("https://host:443/x?token=abc") == "https://host:443/x"
    with pytest.raises(InputError, match=r"\.db"):
        MilvusIndex(str(tmp_path / "dir"), "c", 8)
    with pytest.raises(InputError, match="collection"):
        MilvusIndex(str(tmp_path / "a.db"), "bad-name", 8)
    d = MilvusIndex("http://u:p@h:19530", "c", 8).describe()
    assert d["uri"] == "http://h:19530" and d["backend"] == "milvus"
    assert normalize_key("嘉政发 [2014] 87号") == "嘉政发〔2014〕87号"
