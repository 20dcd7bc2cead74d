"""The evaluation suite end to end with a fake assistant (a unit test of the suite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.eval.compare import compare_runs, format_comparison
from rag.eval.gold import GoldCitation, GoldItem, read_gold
from rag.eval.run import (
    EvalRun,
    check_gold_refs,
    gate,
    known_refs,
    read_floors,
    run_eval,
    write_run,
)
from rag.models import Answer, Citation, Clause, Hit

DOC = "嘉政发〔2014〕87号"
ROOT = Path(__file__).resolve().parent.parent

C14 = Clause(DOC, "嘉兴市社会救助办法", "第十四条", "申请人应在三十日内提交材料，补助每月290元。")
C23 = Clause(DOC, "嘉兴市社会救助办法", "第二十三条（一）", "低保对象可享受医疗救助。")
C2 = Clause("", "关于做好冬季救助的通知", "二、（一）1.", "冬季一次性补助500元。")
NEAR = Clause(DOC, "嘉兴市社会救助办法", "第一条", "为了规范社会救助，制定本办法。")

GOLD = [
    {
        "id": "q1",
        "question": "申请材料要在多长时间内提交？",
        "answer": "应在30日内提交材料。",
        "citations": [{"doc_no": DOC, "clause": "第十四条"}],
        "key_facts": ["30日"],
        "answerable": True,
        "persona": "citizen",
        "tags": ["期限"],
    },
    {
        "id": "q2",
        "question": "低保对象能享受什么救助？<script>alert(1)</script>",
        "answer": "可享受医疗救助。",
        "citations": [{"doc_no": DOC, "clause": "第二十三条"}],
        "key_facts": ["医疗救助"],
        "answerable": True,
        "persona": "clerk",
        "tags": ["待遇"],
    },
    {
        "id": "q3",
        "question": "冬季补助多少钱？",
        "answer": "一次性补助500元。",
        "citations": [{"doc_no": "", "title": "关于做好冬季救助的通知", "clause": "二、（一）"}],
        "key_facts": ["500元"],
        "answerable": True,
        "persona": "citizen",
        "tags": ["待遇", "金额"],
    },
    {
        "id": "q4",
        "question": "火星移民有补贴吗？",
        "answer": "",
        "citations": [],
        "key_facts": [],
        "answerable": False,
        "persona": "evaluator",
        "tags": ["拒答"],
    },
    {
        "id": "q5",
        "question": "这个问题会出错",
        "answer": "任意",
        "citations": [{"doc_no": DOC, "clause": "第十四条"}],
        "key_facts": ["30日"],
        "answerable": True,
        "persona": "citizen",
        "tags": ["期限"],
    },
]


def _cite(c: Clause) -> Citation:
    return Citation(c.doc_no, c.label, c.doc_title, c.text, 0.9)


def _answer(q: str, text: str, cites: list[Clause], refused: bool = False) -> Answer:
    return Answer(
        question=q,
        answer=text,
        refused=refused,
        mode="extractive",
        citations=[_cite(c) for c in cites],
        timings_ms={"retrieve": 12.0, "answer": 3.0, "total": 15.0},
    )


class FakeAssistant:
    """Fixed answers per question; ``variant`` "b" fixes q2's facts and answers q4."""

    def __init__(self, variant: str = "a") -> None:
        self.variant = variant
        self.calls: list[tuple[str, int | None, str | None, str | None]] = []

    def ask_with_hits(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        id: str | None = None,
    ) -> tuple[Answer, list[Hit]]:
        self.calls.append((question, k, mode, id))
        hits = [Hit(NEAR, 0.5, ["bm25"]), Hit(C14, 0.4, ["dense"]), Hit(C23, 0.3, ["bm25"])]
        if question.startswith("申请材料"):
            return _answer(question, "申请人应在三十日内提交材料。", [C14]), hits
        if question.startswith("低保"):
            text = "可享受医疗救助。" if self.variant == "b" else "可享受救助，补助每月300元。"
            return _answer(question, text, [C23]), hits
        if question.startswith("冬季"):
            return _answer(question, "冬季一次性补助500元。", [C2]), [Hit(C2, 0.8, ["dense"])]
        if question.startswith("火星"):
            if self.variant == "b":
                return _answer(question, "可以补贴290元。", [C14]), hits
            return _answer(question, "现有文件中没有找到。", [NEAR], refused=True), hits
        raise InputError("question too long: 9999 characters (limit 500)")


class SearchingAssistant(FakeAssistant):
    """Also has ``search``: the run probes 10 deep for the retrieval metrics."""

    def search(self, query: str, k: int = 5) -> list[Hit]:
        deep = [Hit(NEAR, 0.5), Hit(C2, 0.45)] + [Hit(NEAR, 0.1)] * 6 + [Hit(C14, 0.05)]
        return deep[:k]


@pytest.fixture
def gold_file(tmp_path: Path) -> Path:
    p = tmp_path / "gold.jsonl"
    p.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in GOLD), "utf-8")
    return p


@pytest.fixture
def items(gold_file: Path) -> list[GoldItem]:
    return read_gold(gold_file)


SETTINGS = {"embedder": "fake", "mode": "extractive", "k": 5, "llm_api_key": "sk-secret"}


def _write(run: EvalRun, out: Path, gold_file: Path) -> dict[str, Path]:
    return write_run(
        run,
        out,
        settings_dict=SETTINGS,
        gold_path=gold_file,
        index_manifest={"corpus_hash": "c0ffee", "embedder": {"name": "fake-emb", "dim": 8}},
        extra_manifest={"note": "unit test"},
    )


def test_run_eval_scores_items_and_records_errors(items: list[GoldItem]) -> None:
    fake = FakeAssistant()
    run = run_eval(fake, items, mode="extractive", k=3, progress=False)
    assert fake.calls[0][1:] == (3, "extractive", "q1")
    by = {it.id: it for it in run.items}
    assert by["q1"].metrics["key_fact_recall"] == 1.0
    assert by["q1"].metrics["citation_clause_recall_strict"] == 1.0
    assert by["q1"].metrics["mrr@10"] == pytest.approx(1 / 2)
    assert by["q2"].metrics["key_fact_recall"] == 0.0
    assert by["q2"].metrics["citation_clause_recall_strict"] == 0.0
    assert by["q2"].metrics["citation_clause_recall_lenient"] == 1.0
    assert by["q2"].metrics["figure_hallucination"] == 1.0  # 300元 is in no cited clause
    assert by["q3"].metrics["citation_doc_precision"] == 1.0  # identified by title
    assert by["q3"].metrics["citation_clause_recall_lenient"] == 1.0
    assert by["q4"].refused and by["q4"].metrics["refusal_recall"] == 1.0
    err = by["q5"]
    assert err.error.startswith("question too long")
    assert err.refused is False
    assert err.metrics["key_fact_recall"] == 0.0
    assert err.metrics["false_refusal_rate"] == 0.0
    s = run.summary
    assert s.n_items == 5 and s.n_errors == 1
    assert s.metrics["key_fact_recall"].mean == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert s.metrics["refusal_recall"].mean == 1.0
    assert s.latency_ms["total"]["n"] == 4  # the error has no timings


def test_run_eval_probes_deeper_retrieval(items: list[GoldItem]) -> None:
    run = run_eval(SearchingAssistant(), items[:1], progress=False)
    it = run.items[0]
    assert len(it.retrieved) == 3 and len(it.retrieved_deep) == 9
    # in the 10-deep ranking C14 is 9th: recall@3 0, recall@10 1, MRR 1/9
    assert it.metrics["retrieval_recall@3"] == 0.0
    assert it.metrics["retrieval_recall@10"] == 1.0
    assert it.metrics["mrr@10"] == pytest.approx(1 / 9)


def test_write_run_files(tmp_path: Path, gold_file: Path, items: list[GoldItem]) -> None:
    run = run_eval(FakeAssistant(), items, progress=False)
    out = tmp_path / "runs" / "a"
    paths = _write(run, out, gold_file)
    assert sorted(p.name for p in out.iterdir()) == sorted(paths)  # no temp files left
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["corpus_hash"] == "c0ffee"
    assert manifest["embedder"] == "fake-emb"
    assert len(manifest["gold"]["sha256"]) == 64
    assert manifest["settings"]["llm_api_key"] == "***"
    assert manifest["note"] == "unit test"
    assert "git_commit" in manifest and "created_at" in manifest
    rows = [json.loads(x) for x in (out / "per_item.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4", "q5"]
    r1 = rows[0]
    for key in (
        "question",
        "persona",
        "tags",
        "answerable",
        "answer",
        "refused",
        "citations",
        "metrics",
        "retrieved",
        "timings_ms",
        "gold_citations",
        "error",
    ):
        assert key in r1
    assert r1["retrieved"][1] == {
        "rank": 2,
        "doc_no": DOC,
        "title": "嘉兴市社会救助办法",
        "clause": "第十四条",
        "score": 0.4,
        "sources": ["dense"],
        "text": C14.text,
    }
    assert r1["metrics"]["key_fact_recall"] == 1.0
    assert rows[4]["error"]
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["n_items"] == 5
    assert len(summary["metrics"]["key_fact_recall"]["ci95"]) == 2
    assert "citizen" in summary["by_persona"] and "待遇" in summary["by_tag"]
    ragas = [json.loads(x) for x in (out / "ragas.jsonl").read_text("utf-8").splitlines()]
    assert set(ragas[0]) == {"user_input", "retrieved_contexts", "response", "reference"}
    assert ragas[0]["retrieved_contexts"][1] == C14.text
    assert ragas[0]["reference"] == "应在30日内提交材料。"
    page = (out / "report.html").read_text("utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<svg") == 2
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_write_run_twice_replaces(tmp_path: Path, gold_file: Path, items: list[GoldItem]) -> None:
    run = run_eval(FakeAssistant(), items, progress=False)
    _write(run, tmp_path / "r", gold_file)
    _write(run, tmp_path / "r", gold_file)
    assert len((tmp_path / "r" / "per_item.jsonl").read_text("utf-8").splitlines()) == 5


def test_gate(tmp_path: Path, gold_file: Path, items: list[GoldItem]) -> None:
    run = run_eval(FakeAssistant(), items, progress=False)
    summary = run.summary.to_json()
    ok = tmp_path / "ok.toml"
    ok.write_text('[floors]\nkey_fact_recall = 0.5\n"retrieval_recall@3" = 0.5\n', "utf-8")
    assert gate(summary, ok) == []
    strict = tmp_path / "strict.toml"
    strict.write_text(
        "[floors]\nkey_fact_recall = 0.9\n[ceilings]\nfigure_hallucination = 0.1\n"
        "latency_total_p95_ms = 1.0\n",
        "utf-8",
    )
    fails = gate(summary, strict)
    assert len(fails) == 3
    assert fails[0].startswith("key_fact_recall = 0.5 below floor 0.9")
    assert any(f.startswith("latency_total_p95_ms") for f in fails)
    assert gate(run.summary, strict) == fails  # a Summary object works too
    # the shipped floors file parses, with rates in [0, 1]
    floors = read_floors(ROOT / "eval" / "floors.toml")
    assert 0 < floors["floors"]["key_fact_recall"] <= 1
    assert 0 <= floors["ceilings"]["false_refusal_rate"] < 1


def test_gate_unmeasured_metric_fails(tmp_path: Path, items: list[GoldItem]) -> None:
    run = run_eval(FakeAssistant(), items[:1], progress=False)  # no unanswerable item
    f = tmp_path / "f.toml"
    f.write_text("[floors]\nrefusal_recall = 0.5\n", "utf-8")
    assert gate(run.summary.to_json(), f) == ["refusal_recall: not measured (no applicable items)"]


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("[floors]\nkey_fact_recal = 0.6\n", "unknown metric 'key_fact_recal'"),
        ("[floors]\nkey_fact_recall = 0.6\n[limits]\nx = 1\n", "unknown section"),
        ("[floors\nkey_fact_recall = 0.6\n", "not valid TOML"),
        ('[floors]\nkey_fact_recall = "high"\n', "must be a number"),
        ("[floors]\nkey_fact_recall = 60\n", "outside [0, 1]"),
        ("", "no [floors] or [ceilings]"),
    ],
)
def test_malformed_floors(tmp_path: Path, text: str, msg: str) -> None:
    f = tmp_path / "floors.toml"
    f.write_text(text, "utf-8")
    with pytest.raises(InputError, match=msg.replace("[", r"\[")):
        gate({"metrics": {}}, f)


def test_missing_floors_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        gate({"metrics": {}}, tmp_path / "nope.toml")


def test_compare_runs(tmp_path: Path, gold_file: Path, items: list[GoldItem]) -> None:
    _write(run_eval(FakeAssistant("a"), items, progress=False), tmp_path / "a", gold_file)
    _write(run_eval(FakeAssistant("b"), items, progress=False), tmp_path / "b", gold_file)
    c = compare_runs(tmp_path / "a", tmp_path / "b")
    assert c.n_paired == 5 and not c.only_a and not c.only_b
    d = {x.name: x for x in c.deltas}
    assert d["key_fact_recall"].diff == pytest.approx(0.25)  # q2 0 → 1 over 4 items
    assert d["key_fact_recall"].ci_low is not None
    assert d["refusal_recall"].diff == -1.0
    flips = {(f.id, f.kind): f for f in c.flips}
    assert flips[("q2", "key_fact_recall")].better
    assert not flips[("q4", "refusal")].better
    assert ("q1", "key_fact_recall") not in flips
    again = compare_runs(tmp_path / "a", tmp_path / "b")
    assert again.to_json() == c.to_json()  # deterministic
    text = format_comparison(c)
    assert "key_fact_recall" in text and "q2" in text and "flipped items (2)" in text


def test_compare_errors(tmp_path: Path, gold_file: Path, items: list[GoldItem]) -> None:
    _write(run_eval(FakeAssistant(), items, progress=False), tmp_path / "a", gold_file)
    with pytest.raises(InputError, match="no such run directory"):
        compare_runs(tmp_path / "a", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"missing per_item\.jsonl"):
        compare_runs(tmp_path / "empty", tmp_path / "a")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "per_item.jsonl").write_text('{"id": "q1", "metrics": {}}\nnot json\n', "utf-8")
    with pytest.raises(InputError, match=r"per_item\.jsonl:2: not valid JSON"):
        compare_runs(tmp_path / "a", bad)


def test_check_gold_refs(items: list[GoldItem]) -> None:
    known = known_refs([C14, C23, C2, NEAR])
    assert check_gold_refs(items, known) == []  # 第二十三条 is known through 第二十三条（一）
    cites = [
        GoldCitation("嘉政发〔2099〕1号", "第一条"),
        GoldCitation(DOC, "第九十条"),
        GoldCitation("嘉政发[2014]87号", "第14条"),
    ]
    extra = [GoldItem("x1", "q", "a", cites, [], True, "citizen")]
    assert check_gold_refs(extra, known) == [
        "x1: unknown document 嘉政发〔2099〕1号",
        f"x1: unknown clause 第九十条 of {DOC}",
    ]
