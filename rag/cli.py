"""The `rag` command line. Errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rag.errors import RagError
from rag.settings import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Question answering over Chinese policy documents, with 文号 and clause citations.",
)

F = TypeVar("F", bound=Callable[..., Any])
_SURROGATE = re.compile("[\ud800-\udfff]")


def _fail(msg: str, code: int = 1) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def friendly(fn: F) -> F:
    """Turn a ``RagError`` (or a broken pipe) into one line on stderr and exit 1, and a
    text argument that is not UTF-8 into one line and exit 2 (a usage error)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bad = _not_utf8(kwargs)
        if bad:
            _fail(f"argument {bad} is not valid UTF-8", 2)
        try:
            return fn(*args, **kwargs)
        except RagError as e:
            _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
        except BrokenPipeError:
            sys.stderr.close()
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def _not_utf8(kwargs: dict[str, Any]) -> str:
    """The name of a text argument that came as invalid UTF-8, else ``""``.

    Python keeps such bytes of ``argv`` as lone surrogates. A ``Path`` may hold them (a
    legal file name); a question or document number may not.
    """
    for name, value in kwargs.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and _SURROGATE.search(v) for v in values):
            return name.upper()
    return ""


def _settings() -> Settings:
    """The settings; first, a writer's half-done change is completed (cheap when none)."""
    from rag.home import needs_recovery

    s = Settings()
    if needs_recovery(s.home, s.index_dir):
        from rag.index.lifecycle import try_recover

        for note in try_recover(s):
            typer.echo(f"note: {note}", err=True)
    return s


def _say_err(msg: str) -> None:
    typer.echo(msg, err=True)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


@app.command()
@friendly
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="files to add (.txt .md .pdf .docx .html .ofd)"),
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="change the store only, not the index")
    ] = False,
) -> None:
    """Parse the shipped corpus (no PATH) or the given files into the corpus store.

    A file already stored (same content) is left as it is; a document already stored
    (same 文号, or same title and issuer) is replaced, and said so. When an index exists it
    is updated in the same step (only changed clauses are embedded).
    """
    from rich.console import Console
    from rich.progress import Progress

    from rag.index.lifecycle import ingest_files
    from rag.ingest.pipeline import shipped_files
    from rag.ingest.source import check_suffix
    from rag.ingest.store import SCHEMA_VERSION
    from rag.settings import SHIPPED_CORPUS

    s = _settings()
    if s.ocr not in ("auto", "off"):
        raise RagError(f"RAG_OCR must be auto or off, not {s.ocr!r}")
    files = list(paths) if paths else shipped_files(SHIPPED_CORPUS)
    for p in files:
        check_suffix(p)
    err = Console(stderr=True)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("ingest", total=len(files))

        def tick(p: Path) -> None:
            bar.update(task, advance=1, description=p.name)

        def parsed(p: Path) -> None:
            if bar.tasks[0].completed >= len(files) - 1:
                bar.stop()  # the index build that follows has its own progress bar
            tick(p)

        outcome, summaries = ingest_files(
            s,
            files,
            reindex=not no_index,
            on_wait=lambda m: err.print(m, markup=False, highlight=False),
            on_file=parsed,
            progress=True,
        )
    if outcome.upgraded_from is not None:
        typer.echo(
            f"store upgraded from format {outcome.upgraded_from} to {SCHEMA_VERSION}"
            + (": validity read from the stored texts" if outcome.upgraded_from < 2 else "")
        )
    failed = 0
    for sm in summaries:
        if sm.error:
            failed += 1
            typer.echo(f"error: {sm.error}", err=True)
            continue
        _print_file_summary(sm)
    corpus = outcome.corpus
    typer.echo(
        f"store: {len(corpus.printed())} documents, {len(corpus.clauses())} clauses "
        f"-> {s.corpus_db}" + ("" if outcome.changed else " (nothing changed)")
    )
    for note in outcome.recovered:
        typer.echo(f"note: {note}")
    if outcome.changed and outcome.index_line():
        typer.echo(outcome.index_line())
    if failed:
        raise typer.Exit(1)


def _print_file_summary(sm: Any) -> None:
    extra = f", {sm.listed_not_printed} listed-not-printed" if sm.listed_not_printed else ""
    fix = ", punctuation repaired" if sm.repaired else ""
    state = ""
    if sm.status == "unchanged":
        state = " - unchanged (already stored)"
    elif sm.status == "updated":
        bits = [
            f"{len(v)} {k}"
            for k, v in (("added", sm.added), ("replaced", sm.replaced), ("removed", sm.removed))
            if v
        ]
        state = " - new version of a stored file" + (f": {', '.join(bits)}" if bits else "")
    typer.echo(f"{sm.file}: {sm.documents} documents, {sm.clauses} clauses{extra}{fix}{state}")
    if sm.status == "updated":
        for key in sm.added:
            typer.echo(f"  added: {key}")
    for key in sm.replaced:
        was = sm.replaced_from.get(key, "")
        where = "an earlier version of this file" if was == sm.file else was
        typer.echo(f"  replaced: {key} (the stored text from {where})")
    for key in sm.removed:
        typer.echo(f"  removed: {key} (no longer in the file)")
    for w in sm.warnings:
        typer.echo(f"  warning: {w}")


@app.command()
@friendly
def remove(
    doc: Annotated[str, typer.Argument(help="文号 (any printed variant) or title")],
    no_index: Annotated[
        bool, typer.Option("--no-index", help="change the store only, not the index")
    ] = False,
) -> None:
    """Retire a document: it leaves the corpus store and the index together."""
    from rag.index.lifecycle import remove as run_remove

    s = _settings()
    outcome, d = run_remove(s, doc, reindex=not no_index, on_wait=_say_err, progress=True)
    name = f"{d.doc_no} 《{d.title}》" if d.doc_no else f"《{d.title}》"
    typer.echo(f"removed {name}: {len(d.clauses)} clauses (from {d.source})")
    typer.echo(
        f"store: {len(outcome.corpus.printed())} documents, {len(outcome.corpus.clauses())} "
        f"clauses -> {s.corpus_db}"
    )
    if outcome.index_line():
        typer.echo(outcome.index_line())


@app.command()
@friendly
def clean(file: Path) -> None:
    """Print the repaired text of one file to stdout (any type `rag ingest` reads)."""
    from rag.ingest.clean import repair_text
    from rag.ingest.source import read_source

    s = _settings()
    sys.stdout.write(repair_text(read_source(file, max_bytes=s.max_file_bytes, ocr=s.ocr).text))


@app.command()
@friendly
def docs(
    as_json: Annotated[bool, typer.Option("--json", help="JSON array")] = False,
    history: Annotated[
        str | None,
        typer.Option("--history", metavar="DOC", help="what was ingested, replaced, removed"),
    ] = None,
    set_status: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--set-status",
            metavar="DOC STATUS",
            help="set a document's status by hand (现行有效, 尚未施行, 已过有效期, 已被废止, "
            "未注明; auto = as its text says)",
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="why (with --set-status)")] = "",
) -> None:
    """List documents with each one's status as of RAG_AS_OF (default today), or the
    history of one (--history DOC: 文号 or title)."""
    from rag.ingest import store

    s = _settings()
    as_of = s.as_of_date
    corpus = store.load(s.corpus_db)
    if history is not None:
        _print_history(corpus, history, as_json)
        return
    if not corpus.documents:
        raise RagError("the corpus store is empty: run `rag ingest` first")
    if set_status is not None:
        _set_status(s, corpus, *set_status, note=note)
        return
    if note:
        raise RagError("--note goes with --set-status")
    if as_json:
        _print_json([d.to_json(as_of) for d in corpus.documents])
        return
    for d in corpus.documents:
        flag = "" if d.printed else "  [listed, not printed]"
        no = d.doc_no or "(无文号)"
        status = d.status_on(as_of) + ("*" if d.status_mark else "")
        typer.echo(f"{no}\t{d.date or '-'}\t{len(d.clauses):>3} clauses\t{status}\t{d.title}{flag}")


def _set_status(s: Settings, corpus: Any, doc: str, status: str, *, note: str) -> None:
    """Record a status set by hand (kept with all earlier ones, and in the history)."""
    from rag.index.lifecycle import set_status

    d = set_status(s, doc, status, note, actor="cli", on_wait=_say_err)
    now = d.status_on(s.as_of_date)
    mark = d.status_mark
    how = (
        "set by hand"
        if mark is not None and mark.status
        else "as its text says; the hand-set status is cleared"
    )
    typer.echo(f"{d.key}: {now} ({how})")


def _print_history(corpus: Any, doc: str, as_json: bool) -> None:
    from rag.ingest.changes import history_of

    events = history_of(corpus, doc)
    if as_json:
        _print_json([e.to_json() for e in events])
        return
    if not events:
        typer.echo(f"{doc}: no history recorded (ingested before `rag` kept one)")
        return
    typer.echo("time (UTC)\taction\tdocument\tsource\tsha256\tby\tdetail")
    for e in events:
        src = e.source_path or e.source or "-"
        typer.echo(
            f"{e.at}\t{e.action}\t{e.doc_key}\t{src}\t{e.source_sha256[:12] or '-'}\t"
            f"{e.actor}\t{e.detail}"
        )


@app.command()
@friendly
def show(
    doc_no: Annotated[str, typer.Argument(help="文号 (any printed variant) or title")],
    clause: Annotated[str | None, typer.Argument(help="clause label: 第十四条, 第14条, 14")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a document, or one clause, with its label and source span."""
    from rag.ingest import store
    from rag.ingest.lookup import find_clauses, find_document

    corpus = store.load(_settings().corpus_db)
    doc = find_document(corpus, doc_no)
    if clause is None:
        if as_json:
            out = doc.to_json(_settings().as_of_date)
            out["clauses"] = [_clause_json(c) for c in doc.clauses]
            _print_json(out)
            return
        typer.echo(f"{doc.doc_no} 《{doc.title}》" if doc.doc_no else f"《{doc.title}》")
        typer.echo(f"{doc.issuer}  {doc.date}  source {doc.span or doc.source}")
        for line in _validity_lines(doc, _settings().as_of_date):
            typer.echo(line)
        if not doc.printed:
            typer.echo("(listed on a contents page, not printed in the issue)")
        for c in doc.clauses:
            where = f"  [{c.span}]" if c.span else ""
            typer.echo(f"\n【{c.label or '—'}】{where}\n{c.text}")
        return
    found = find_clauses(doc, clause)
    if as_json:
        _print_json([_clause_json(c) for c in found])
        return
    for c in found:
        head = f"{doc.doc_no} {c.label}" if doc.doc_no else f"《{doc.title}》 {c.label}"
        typer.echo(f"{head}  《{c.part_title or doc.title}》  [{c.span}]")
        if c.headings:
            typer.echo(" / ".join(c.headings))
        typer.echo(c.text)


def _validity_lines(doc: Any, as_of: Any) -> list[str]:
    """What `rag show` prints of a document's validity."""
    v = doc.validity_json(as_of)

    def refs(rs: list[dict[str, Any]]) -> str:
        out = []
        for r in rs:
            title = f"《{r['title']}》" if r["title"] else ""
            name = " ".join(x for x in (r["doc_no"], title) if x)
            extra = "; ".join(x for x in (r.get("partial", ""), r.get("effective", "")) if x)
            out.append(f"{name} ({extra})" if extra else name)
        return "; ".join(out) or "-"

    status = v["status"]
    if v["status_by_hand"]:
        note = f": {v['status_note']}" if v.get("status_note") else ""
        status += f" (set by hand {v['status_set_at']}{note})"
    lines = [
        f"status {status} as of {v['status_as_of']}",
        f"effective {v['effective'] or '-'}  expires {v['expires'] or '-'}  "
        f"trial {'yes' if v['trial'] else 'no'}",
        f"supersedes {refs(v['supersedes'])}",
        f"superseded by {refs(v['superseded_by'])}",
    ]
    lines += [f"  read from: {e}" for e in v["validity_evidence"]]
    return lines


@app.command()
@friendly
def index(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="re-embed everything")] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=256, help="embed in N processes (or Ray actors)")
    ] = 1,
    ray: Annotated[
        bool,
        typer.Option("--ray", help="embed as a Ray Data job (local Ray, or RAY_ADDRESS)"),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Ray cluster to use (auto, ray://host:10001)"),
    ] = None,
) -> None:
    """Build or update the search index from the corpus store."""
    import os

    from rag.index.lifecycle import reindex

    s = _settings()
    outcome = reindex(
        s,
        rebuild=rebuild,
        on_wait=_say_err,
        workers=workers,
        ray_address=(ray_address or os.environ.get("RAY_ADDRESS") or "local")
        if ray or ray_address
        else None,
    )
    for note in outcome.recovered:
        typer.echo(f"note: {note}")
    typer.echo(outcome.index_line())


def _filters(
    doc_no: str | None,
    issuer: str | None,
    date_from: str | None,
    date_to: str | None,
    kind: str | None,
) -> Any:
    from rag.retrieve.hybrid import Filters

    if not any((doc_no, issuer, date_from, date_to, kind)):
        return None
    if doc_no:
        from rag.ingest.docno import canonical_doc_no

        doc_no = canonical_doc_no(doc_no)
    return Filters(doc_no=doc_no, issuer=issuer, date_from=date_from, date_to=date_to, kind=kind)


@app.command()
@friendly
def search(
    query: str,
    k: Annotated[int, typer.Option("--k", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    doc_no: Annotated[str | None, typer.Option("--doc-no")] = None,
    issuer: Annotated[str | None, typer.Option("--issuer")] = None,
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    kind: Annotated[str | None, typer.Option("--kind")] = None,
) -> None:
    """Ranked clauses for QUERY."""
    from rag.answer.service import Assistant

    a = Assistant(_settings())
    hits = a.search(query, k=k, filters=_filters(doc_no, issuer, date_from, date_to, kind))
    if as_json:
        _print_json([h.to_json() for h in hits])
        return
    for i, h in enumerate(hits, 1):
        c = h.clause
        typer.echo(
            f"{i}. {c.doc_no or '《' + c.doc_title + '》'} {c.label}  "
            f"score={h.score:.3f} [{'+'.join(h.sources)}]  《{c.doc_title}》"
        )
        typer.echo(f"   {c.text[:160]}")


def _print_answer(ans: Any) -> None:
    typer.echo(ans.answer)
    if ans.notes:
        for n in ans.notes:
            typer.echo(f"({n})")
    if ans.citations:
        typer.echo("\n参考条款：" if ans.refused else "\n引用：")
    for i, c in enumerate(ans.citations, 1):
        head = f"{c.doc_no} {c.clause}" if c.doc_no else f"{c.clause}"
        when = "  ".join(x for x in (c.date, c.status) if x)
        typer.echo(f"[{i}] {head} 《{c.title}》" + (f"  ({when})" if when else ""))
        if c.warning:
            typer.echo(f"    ⚠ {c.warning}")
        typer.echo(f"    {c.text}")


@app.command()
@friendly
def ask(
    question: Annotated[str | None, typer.Argument()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    mode: Annotated[str | None, typer.Option("--mode", help="extractive | llm")] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, max=50)] = None,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL of {id, question}")] = None,
) -> None:
    """Answer QUESTION with citations (or every line of --batch FILE.jsonl)."""
    from rag.answer.service import Assistant

    if batch is None and question is None:
        raise RagError("give a QUESTION or --batch FILE.jsonl")
    if batch is not None:
        from rag.eval.gold import read_batch

        items = read_batch(batch)
        a = Assistant(_settings())
        for item_id, q in items:
            try:
                ans = a.ask(q, k=k, mode=mode, id=item_id)
                line = ans.to_json()
            except RagError as e:
                line = {"id": item_id, "question": q, "error": str(e)}
            typer.echo(json.dumps(line, ensure_ascii=False))
        return
    assert question is not None
    a = Assistant(_settings())
    ans = a.ask(question, k=k, mode=mode)
    if as_json:
        _print_json(ans.to_json())
    else:
        _print_answer(ans)


@app.command()
@friendly
def train(
    gold: Annotated[
        list[Path] | None,
        typer.Option("--gold", help="gold sets (default: dev, the held-out and hotline1 sets)"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="weights file")] = None,
) -> None:
    """Train the decision models with leave-one-set-out cross-validation."""
    from rag.answer.decide import WEIGHTS_FILE
    from rag.answer.service import Assistant
    from rag.eval.train import TRAIN_SETS
    from rag.eval.train import train as run_train

    s = _settings().model_copy(update={"answerer": "rules"})
    paths = list(gold) if gold else [p for p in TRAIN_SETS if p.is_file()]
    report = run_train(Assistant(s), paths, out or WEIGHTS_FILE)
    _print_json(report)


@app.command("eval")
@friendly
def eval_(
    gold: Annotated[Path, typer.Option("--gold", help="gold file (JSONL)")],
    out: Annotated[Path | None, typer.Option("--out", help="run directory")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print summary.json")] = False,
    gate_file: Annotated[Path | None, typer.Option("--gate", help="floors (TOML)")] = None,
    mode: Annotated[str | None, typer.Option("--mode")] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, max=50)] = None,
) -> None:
    """Score a gold set: metrics, per-item results and an HTML report."""
    import time as _time

    from rag.answer.service import MODES, Assistant
    from rag.eval.gold import read_gold
    from rag.eval.run import (
        check_gold_refs,
        gate,
        known_refs,
        read_floors,
        run_eval,
        write_run,
    )

    items = read_gold(gold)  # a malformed line stops here, before anything is scored
    if gate_file is not None:
        read_floors(gate_file)
    if mode is not None and mode not in MODES:
        raise RagError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    s = _settings()
    a = Assistant(s)
    for w in check_gold_refs(items, known_refs(a.index.clauses)):
        typer.echo(f"warning: {w}", err=True)
    run = run_eval(a, items, mode=mode, k=k)
    out_dir = out or s.home / "eval" / _time.strftime("%Y%m%d-%H%M%S")
    write_run(
        run,
        out_dir,
        settings_dict=s.model_dump(mode="json"),
        gold_path=gold,
        index_manifest=a.index.manifest,
    )
    summary = run.summary.to_json()
    if as_json:
        _print_json(summary)
    else:
        _print_summary(summary)
        typer.echo(f"run written to {out_dir}")
    if gate_file is not None:
        failures = gate(summary, gate_file)
        for f in failures:
            typer.echo(f"gate: {f}", err=True)
        if failures:
            raise typer.Exit(1)


def _print_summary(summary: dict[str, Any]) -> None:
    metrics = summary.get("metrics", summary)
    for name, stat in metrics.items():
        if isinstance(stat, dict) and "mean" in stat:
            ci = stat.get("ci95")
            ci_s = f"  [{ci[0]}, {ci[1]}]" if ci else ""
            typer.echo(f"{name:<36} {stat['mean']}{ci_s}  (n={stat.get('n')})")


@app.command()
@friendly
def compare(
    run_a: Path,
    run_b: Path,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Paired comparison of two eval runs (B − A), with the items that flipped."""
    from rag.eval.compare import compare_runs, format_comparison

    c = compare_runs(run_a, run_b)
    if as_json:
        _print_json(c.to_json())
    else:
        typer.echo(format_comparison(c))


@app.command()
@friendly
def serve(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535)] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="answering processes (RAG_WORKERS)"),
    ] = None,
) -> None:
    """Start the web app (citizen chat, clerk console, documents) and the HTTP API."""
    from rag.interfaces.server import serve as run_server

    s = _settings()
    if not (s.index_dir / "manifest.json").exists():
        raise RagError("no index yet: run `rag ingest` and `rag index` first (or `make run`)")
    n = workers or s.workers
    if n > 1 and s.store.strip().lower() == "milvus" and "://" not in s.milvus_uri:
        raise RagError(
            "Milvus Lite (a local .db file) opens in one process only: serve with --workers 1, "
            "or point RAG_MILVUS_URI at a Milvus server (http://host:19530)"
        )
    run_server(s, host, port, n)


feedback_app = typer.Typer(help="Feedback given in the web app.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
@friendly
def feedback_export(
    gold: Annotated[bool, typer.Option("--gold/--raw", help="gold-file draft lines")] = True,
) -> None:
    """Print the feedback as JSONL: by default a draft gold file for a person to check."""
    from rag.interfaces.feedback import export_feedback

    for row in export_feedback(_settings(), gold=gold):
        typer.echo(json.dumps(row, ensure_ascii=False))


@app.command()
@friendly
def bench(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="section(s), repeatable or comma-separated")
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="scale at 100k only")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="results directory")] = None,
    gold: Annotated[Path | None, typer.Option("--gold", help="gold JSONL")] = None,
) -> None:
    """Benchmarks (quality, build time, latency, memory, scale); results to bench/results/."""
    from rag.bench import DEFAULT_OUT, run_bench

    sections = [x.strip() for o in (only or []) for x in o.split(",") if x.strip()] or None
    results = run_bench(_settings(), sections, quick, out or DEFAULT_OUT, gold=gold)
    failed = [name for name, r in results.items() if isinstance(r, dict) and r.get("error")]
    for name in results:
        mark = "error: " + str(results[name].get("error")) if name in failed else "ok"
        typer.echo(f"{name}: {mark}")
    if failed:
        raise typer.Exit(1)


def _clause_json(c: Any) -> dict[str, Any]:
    return {
        "doc_no": c.doc_no,
        "title": c.doc_title,
        "clause": c.label,
        "part": c.part,
        "part_title": c.part_title,
        "headings": c.headings,
        "text": c.text,
        "source": str(c.span) if c.span else "",
    }


def ray_value(argv: list[str]) -> list[str]:
    """The contract's ``rag index --ray [ADDRESS]``: an address right after ``--ray``
    (``auto``, ``local``, ``host:port``, ``ray://…``) becomes ``--ray-address ADDRESS``,
    since a Typer flag takes no optional value."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        out.append(argv[i])
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] == "--ray" and nxt and (nxt in ("auto", "local") or ":" in nxt):
            out += ["--ray-address", nxt]
            i += 1
        i += 1
    return out


def main() -> None:  # pragma: no cover - console entry
    import sys

    app(args=ray_value(sys.argv[1:]), prog_name="rag")


if __name__ == "__main__":  # pragma: no cover
    main()
