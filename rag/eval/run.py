"""Running the gold set through the assistant, writing the run directory, and gating it.

A run directory holds::

    manifest.json    commit, settings (secrets redacted), embedder/model, corpus hash, gold sha256
    per_item.jsonl   one line per gold item: question, gold, answer, citations, metrics, retrieval
    summary.json     means over applicable items, bootstrap CIs, latency, persona/tag breakdowns
    report.html      self-contained report (rag.eval.report)
    ragas.jsonl      user_input / retrieved_contexts / response / reference (rag.eval.ragas)

Every file is written to a temporary name and renamed into place; manifest.json is
written last, so a directory with a manifest is a complete run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from rag.errors import InputError, RagError
from rag.eval.gold import GoldItem
from rag.eval.metrics import (
    LATENCY_STAGES,
    METRICS,
    ItemScore,
    Ref,
    Summary,
    aggregate,
    doc_key,
    score_item,
)
from rag.eval.ragas import ragas_jsonl
from rag.eval.report import render_report
from rag.ingest.labels import split_label
from rag.models import Answer, Clause, Hit

RETRIEVAL_DEPTH = 10
FILES = ("per_item.jsonl", "ragas.jsonl", "summary.json", "report.html", "manifest.json")
_SECRET_RE = re.compile(r"key|token|secret|password", re.IGNORECASE)


class SupportsAsk(Protocol):
    """What the evaluation needs of the assistant (``rag.answer.service.Assistant``)."""

    def ask_with_hits(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        id: str | None = None,
    ) -> tuple[Answer, list[Hit]]: ...


@dataclass
class RetrievedClause:
    """One retrieved clause as recorded in ``per_item.jsonl``."""

    rank: int
    doc_no: str
    title: str
    clause: str
    score: float
    sources: list[str] = field(default_factory=list)
    text: str = ""

    @classmethod
    def from_hit(cls, rank: int, hit: Hit, *, with_text: bool = True) -> RetrievedClause:
        c = hit.clause
        return cls(
            rank=rank,
            doc_no=c.doc_no,
            title=c.doc_title,
            clause=c.label,
            score=float(hit.score),
            sources=list(hit.sources),
            text=c.text if with_text else "",
        )

    @property
    def ref(self) -> Ref:
        return Ref.of(self.doc_no, self.title, self.clause)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rank": self.rank,
            "doc_no": self.doc_no,
            "title": self.title,
            "clause": self.clause,
            "score": _finite(self.score),
            "sources": list(self.sources),
        }
        if self.text:
            d["text"] = self.text
        return d


@dataclass(kw_only=True)
class ItemResult(ItemScore):
    """One evaluated gold item: the gold, what the system did, and the item's metrics."""

    question: str
    gold_answer: str
    gold_citations: list[dict[str, str]]
    key_facts: list[str]
    answer: str = ""
    mode: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[RetrievedClause] = field(default_factory=list)
    retrieved_deep: list[RetrievedClause] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    understood: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``per_item.jsonl`` line."""
        d: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "persona": self.persona,
            "tags": list(self.tags),
            "answerable": self.answerable,
            "gold_answer": self.gold_answer,
            "gold_citations": self.gold_citations,
            "key_facts": list(self.key_facts),
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": self.citations,
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "retrieved": [r.to_json() for r in self.retrieved],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "error": self.error,
        }
        if self.retrieved_deep:
            d["retrieved_deep"] = [r.to_json() for r in self.retrieved_deep]
        if self.notes:
            d["notes"] = list(self.notes)
        if self.understood:
            d["understood"] = dict(self.understood)
        return d


@dataclass
class EvalRun:
    """The result of :func:`run_eval`."""

    items: list[ItemResult]
    summary: Summary
    mode: str | None
    k: int | None
    retrieval_depth: int
    started_at: str
    seconds: float


def _finite(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), 6)


def _gold_refs(item: GoldItem) -> list[Ref]:
    return [Ref.of(c.doc_no, c.title, c.clause) for c in item.citations]


def evaluate_item(
    item: GoldItem,
    answer: Answer | None,
    hits: Sequence[Hit],
    *,
    deep_hits: Sequence[Hit] | None = None,
    error: str = "",
) -> ItemResult:
    """Score one gold item against what the system returned.

    Args:
        item: The gold item.
        answer: The system's answer (None when asking failed).
        hits: The clauses the answer was built from, best first.
        deep_hits: A deeper ranking of the same question for the retrieval metrics
            (recall@10, MRR@10) when ``hits`` is shorter; None to use ``hits``.
        error: The error message when asking failed (scored as a wrong, non-refused answer).
    """
    retrieved = [RetrievedClause.from_hit(i, h) for i, h in enumerate(hits, 1)]
    deep = [
        RetrievedClause.from_hit(i, h, with_text=False) for i, h in enumerate(deep_hits or [], 1)
    ]
    ranking = deep or retrieved
    text = answer.answer if answer else ""
    refused = bool(answer.refused) if answer and not error else False
    cites = list(answer.citations) if answer else []
    sources: list[str] = []
    for c in cites:
        sources.extend((c.text, c.doc_no, c.title, c.clause))
    metrics = score_item(
        answerable=item.answerable,
        key_facts=item.key_facts,
        gold_answer=item.answer,
        gold_refs=_gold_refs(item),
        answer=text,
        refused=refused,
        cited=[Ref.of(c.doc_no, c.title, c.clause) for c in cites],
        cited_sources=sources,
        retrieved=[r.ref for r in ranking],
        error=bool(error),
    )
    return ItemResult(
        id=item.id,
        persona=item.persona,
        tags=list(item.tags),
        answerable=item.answerable,
        refused=refused,
        metrics=metrics,
        timings_ms=dict(answer.timings_ms) if answer else {},
        error=error,
        question=item.question,
        gold_answer=item.answer,
        gold_citations=[
            {"doc_no": c.doc_no, "clause": c.clause, "title": c.title} for c in item.citations
        ],
        key_facts=list(item.key_facts),
        answer=text,
        mode=answer.mode if answer else "",
        citations=[
            {
                "doc_no": c.doc_no,
                "clause": c.clause,
                "title": c.title,
                "text": c.text,
                "score": _finite(c.score),
            }
            for c in cites
        ],
        retrieved=retrieved,
        retrieved_deep=deep if deep_hits is not None else [],
        notes=list(answer.notes) if answer else [],
        understood=dict(answer.understood) if answer else {},
    )


def run_eval(
    assistant: SupportsAsk,
    items: Sequence[GoldItem],
    *,
    mode: str | None = None,
    k: int | None = None,
    progress: bool = True,
    retrieval_depth: int = RETRIEVAL_DEPTH,
    n_resamples: int = 1000,
    seed: int | None = None,
) -> EvalRun:
    """Ask every gold question with one assistant and score the answers.

    An item whose question raises a ``RagError`` is recorded with the error message and
    scored as a wrong answer that did not refuse; any other exception is a bug and stops
    the run. When the assistant has a ``search(question, k=)`` method and returned fewer
    than ``retrieval_depth`` clauses, the question is also searched ``retrieval_depth``
    deep so recall@10 and MRR@10 are measured (the answer itself is unchanged).

    Args:
        assistant: The loaded assistant (model loaded once for the whole run).
        items: Parsed gold items (``rag.eval.gold.read_gold``).
        mode: Answer mode (None: the assistant's setting).
        k: Clauses retrieved for the answer (None: the assistant's setting).
        progress: Show a tqdm progress bar on stderr.
        retrieval_depth: Ranking depth for the retrieval metrics.
        n_resamples: Bootstrap resamples for the CIs.
        seed: Bootstrap seed (None: the fixed default).
    """
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    search = getattr(assistant, "search", None)
    results: list[ItemResult] = []
    bar = tqdm(items, desc="eval", unit="q", file=sys.stderr, disable=not progress, leave=False)
    for item in bar:
        try:
            ans, hits = assistant.ask_with_hits(item.question, k=k, mode=mode, id=item.id)
        except RagError as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            results.append(evaluate_item(item, None, [], error=msg))
            continue
        deep: list[Hit] | None = None
        if callable(search) and len(hits) < retrieval_depth:
            try:
                deep = list(search(item.question, k=retrieval_depth))
            except RagError:
                deep = None
        results.append(evaluate_item(item, ans, hits, deep_hits=deep))
    bar.close()
    kwargs: dict[str, Any] = {"n_resamples": n_resamples}
    if seed is not None:
        kwargs["seed"] = seed
    summary = aggregate(results, **kwargs)
    return EvalRun(
        items=results,
        summary=summary,
        mode=mode,
        k=k,
        retrieval_depth=retrieval_depth,
        started_at=started,
        seconds=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- writing


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent, allow_nan=False)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit(cwd: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the project (or ``cwd``); "" when unavailable."""
    where = cwd or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as JSON values, with keys/tokens/passwords replaced by ``"***"`` when set."""
    out: dict[str, Any] = {}
    for k, v in settings.items():
        if _SECRET_RE.search(k) and v:
            out[k] = "***"
        elif isinstance(v, str) and re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*@", v, re.I):
            from rag.index.milvus import safe_uri

            out[k] = safe_uri(v)  # credentials inside a URI (RAG_MILVUS_URI)
        elif isinstance(v, str | int | float | bool) or v is None:
            out[k] = v
        else:
            out[k] = str(v)
    return out


def build_manifest(
    run: EvalRun,
    *,
    settings_dict: Mapping[str, Any],
    gold_path: Path,
    index_manifest: Mapping[str, Any] | None = None,
    extra_manifest: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``manifest.json`` content of a run."""
    gold_path = Path(gold_path)
    try:
        gold_sha = _sha256(gold_path)
    except OSError as e:
        raise InputError(f"{gold_path}: cannot read ({e.strerror or e})") from e
    idx = dict(index_manifest or {})
    emb = idx.get("embedder") if isinstance(idx.get("embedder"), dict) else {}
    embedder = str(emb.get("name", "")) if emb else ""
    if not embedder:
        embedder = str(settings_dict.get("embedder", ""))
        if settings_dict.get("st_model"):
            embedder += f":{settings_dict['st_model']}"
    mode = run.mode or str(settings_dict.get("mode", ""))
    manifest: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "started_at": run.started_at,
        "seconds": round(run.seconds, 3),
        "git_commit": git_commit(),
        "gold": {"path": str(gold_path), "sha256": gold_sha, "n_items": len(run.items)},
        "mode": mode,
        "k": run.k if run.k is not None else settings_dict.get("k"),
        "retrieval_depth": run.retrieval_depth,
        "embedder": embedder,
        "model": str(settings_dict.get("llm_model", "")) if mode == "llm" else "",
        "index": {
            key: idx[key]
            for key in ("corpus_hash", "n_clauses", "faiss_kind", "built_at", "format_version")
            if key in idx
        },
        "corpus_hash": str(idx.get("corpus_hash", "")),
        "settings": redact(settings_dict),
        "versions": {"python": platform.python_version()},
        "files": list(FILES),
    }
    if extra_manifest:
        manifest.update(extra_manifest)
    return manifest


def write_run(
    run: EvalRun,
    out_dir: Path,
    *,
    settings_dict: Mapping[str, Any],
    gold_path: Path,
    extra_manifest: Mapping[str, Any] | None = None,
    index_manifest: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the run directory (each file atomically, manifest last).

    Args:
        run: The result of :func:`run_eval`.
        out_dir: Directory to write (created if missing; files of a previous run are replaced).
        settings_dict: The settings used (``Settings().model_dump()``); secrets are redacted.
        gold_path: The gold file (its sha256 goes into the manifest).
        extra_manifest: More top-level manifest entries (they override computed ones).
        index_manifest: The index ``manifest.json`` (``rag.index.store.read_manifest``),
            for the corpus hash and embedder name.

    Returns:
        File name → path of every file written.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the output directory ({e.strerror or e})") from e
    if not out.is_dir():
        raise InputError(f"{out}: not a directory")
    manifest = build_manifest(
        run,
        settings_dict=settings_dict,
        gold_path=gold_path,
        index_manifest=index_manifest,
        extra_manifest=extra_manifest,
    )
    rows = [it.to_json() for it in run.items]
    summary = run.summary.to_json()
    texts = {
        "per_item.jsonl": "".join(_dumps(r, None) + "\n" for r in rows),
        "ragas.jsonl": ragas_jsonl(rows),
        "summary.json": _dumps(summary) + "\n",
        "report.html": render_report(summary, rows, manifest=manifest),
        "manifest.json": _dumps(manifest) + "\n",
    }
    paths: dict[str, Path] = {}
    try:
        for name in FILES:
            paths[name] = out / name
            _atomic_write(paths[name], texts[name])
    except OSError as e:
        raise InputError(f"{out}: cannot write the run ({e.strerror or e})") from e
    return paths


# --------------------------------------------------------------------------- gold checks


def known_refs(clauses: Iterable[Clause]) -> dict[str, set[str]]:
    """Document key (文号, or title) → clause labels, e.g. from ``assistant.index.clauses``.

    Items nested in a clause (``三、（一）3.`` in ``三、（一）``) count as known: they can be
    looked up and cited though retrieval returns their clause.
    """
    from rag.ingest.outline import nested_items

    out: dict[str, set[str]] = {}
    for c in clauses:
        labels = out.setdefault(c.doc_key, set())
        labels.add(c.label)
        labels.update(item.label for item in nested_items(c.label, c.text))
    return out


def check_gold_refs(items: Sequence[GoldItem], known: Mapping[str, set[str]]) -> list[str]:
    """Warnings for gold citations whose document or clause is not in the corpus.

    A gold clause counts as known when some clause of the document has that label or lies
    under it (gold ``第二十三条`` is known when the corpus has ``第二十三条（一）``).

    Args:
        items: Gold items.
        known: Document key (文号, or title when there is none) → labels (:func:`known_refs`).

    Returns:
        One line per unknown reference, e.g.
        ``"q12: unknown clause 第九十条 of 嘉政发〔2014〕87号"``.
    """
    docs: dict[str, list[tuple[str, ...]]] = {}
    for key, labels in known.items():
        # a key is a 文号 or a title: index it both ways, it is only looked up one way
        canon = [tuple(split_label(lab)) for lab in labels]
        docs.setdefault(doc_key(key, ""), []).extend(canon)
        docs.setdefault(doc_key("", key), []).extend(canon)
    warnings: list[str] = []
    for item in items:
        for c in item.citations:
            name = c.doc_no or f"《{c.title}》"
            key = doc_key(c.doc_no, c.title)
            if key not in docs:
                warnings.append(f"{item.id}: unknown document {name}")
                continue
            if not c.clause.strip():
                continue
            want = tuple(split_label(c.clause))
            if not any(lab[: len(want)] == want for lab in docs[key]):
                warnings.append(f"{item.id}: unknown clause {c.clause} of {name}")
    return warnings


# --------------------------------------------------------------------------- gate

_LATENCY_RE = re.compile(rf"latency_({'|'.join(LATENCY_STAGES)})_(p50|p95|mean|max)_ms")


def _known_metric(name: str) -> bool:
    return name in METRICS or _LATENCY_RE.fullmatch(name) is not None


def read_floors(floors_path: Path) -> dict[str, dict[str, float]]:
    """Parse and validate a floors file (``[floors]`` minimums, ``[ceilings]`` maximums).

    Raises:
        InputError: unreadable file, bad TOML, unknown table or metric name, non-numeric
            value, or a rate outside [0, 1].
    """
    p = Path(floors_path)
    try:
        data = tomllib.loads(p.read_text("utf-8"))
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text") from e
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p}: not valid TOML ({e})") from e
    unknown_tables = sorted(set(data) - {"floors", "ceilings"})
    if unknown_tables:
        raise InputError(
            f"{p}: unknown section(s) {', '.join(unknown_tables)}: use [floors] and [ceilings]"
        )
    if not data:
        raise InputError(f"{p}: no [floors] or [ceilings] section")
    out: dict[str, dict[str, float]] = {}
    for table in ("floors", "ceilings"):
        raw = data.get(table, {})
        if not isinstance(raw, dict):
            raise InputError(f"{p}: [{table}] must be a table of metric = number")
        vals: dict[str, float] = {}
        for name, v in raw.items():
            if not _known_metric(name):
                raise InputError(
                    f"{p}: [{table}] unknown metric {name!r} "
                    f"(known: {', '.join(METRICS)}, latency_<stage>_<p50|p95>_ms)"
                )
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise InputError(f"{p}: [{table}] {name} must be a number")
            if name in METRICS and not 0 <= v <= 1:
                raise InputError(f"{p}: [{table}] {name} = {v} is outside [0, 1]")
            if v < 0:
                raise InputError(f"{p}: [{table}] {name} must not be negative")
            vals[name] = float(v)
        out[table] = vals
    return out


def _value(summary: Mapping[str, Any], name: str) -> tuple[bool, float | None]:
    """(present in the summary, value)."""
    m = _LATENCY_RE.fullmatch(name)
    if m:
        stage = summary.get("latency_ms", {}).get(m.group(1))
        if not isinstance(stage, dict):
            return False, None
        v = stage.get(m.group(2))
        return True, None if v is None else float(v)
    stat = summary.get("metrics", {}).get(name)
    if not isinstance(stat, dict):
        return False, None
    v = stat.get("mean")
    return True, None if v is None else float(v)


def gate(summary: Mapping[str, Any] | Summary, floors_path: Path) -> list[str]:
    """Check a run's summary against a floors file.

    Args:
        summary: ``summary.json`` content (or a :class:`Summary`).
        floors_path: TOML with ``[floors]`` (metric must be >= value) and ``[ceilings]``
            (metric must be <= value); metric names as in ``summary.json``, plus
            ``latency_<retrieve|answer|total>_<p50|p95|mean|max>_ms``.

    Returns:
        One line per failure; empty means the run passes. A metric with no applicable
        items (mean null) fails, since the floor cannot be shown to hold.

    Raises:
        InputError: the floors file is unreadable or names an unknown metric.
    """
    s = summary.to_json() if isinstance(summary, Summary) else summary
    limits = read_floors(floors_path)
    failures: list[str] = []
    for table, op in (("floors", ">="), ("ceilings", "<=")):
        for name, limit in limits[table].items():
            present, v = _value(s, name)
            if not present:
                failures.append(f"{name}: not in the summary")
            elif v is None:
                failures.append(f"{name}: not measured (no applicable items)")
            elif (op == ">=" and v < limit) or (op == "<=" and v > limit):
                word = "below floor" if op == ">=" else "above ceiling"
                failures.append(f"{name} = {v:.4g} {word} {limit:.4g}")
    return failures
