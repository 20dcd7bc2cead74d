"""The `rag` command line. Errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import json
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


def _fail(msg: str, code: int = 1) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def friendly(fn: F) -> F:
    """Turn a ``RagError`` (or a broken pipe) into one line on stderr and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RagError as e:
            _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
        except BrokenPipeError:
            sys.stderr.close()
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


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
    paths: Annotated[list[Path] | None, typer.Argument(help="files to add (.txt/.md)")] = None,
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
    from rag.settings import SHIPPED_CORPUS

    s = _settings()
    files = list(paths) if paths else shipped_files(SHIPPED_CORPUS)
    for p in files:
        if p.suffix not in (".txt", ".md"):
            raise RagError(f"{p}: only .txt and .md files can be ingested")
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
    """Print the repaired text of one file to stdout."""
    from rag.ingest.clean import repair_text
    from rag.ingest.source import read_text

    sys.stdout.write(repair_text(read_text(file)))


@app.command()
@friendly
def docs(
    as_json: Annotated[bool, typer.Option("--json", help="JSON array")] = False,
    history: Annotated[
        str | None,
        typer.Option("--history", metavar="DOC", help="what was ingested, replaced, removed"),
    ] = None,
) -> None:
    """List documents, or the history of one (--history DOC: 文号 or title)."""
    from rag.ingest import store

    corpus = store.load(_settings().corpus_db)
    if history is not None:
        _print_history(corpus, history, as_json)
        return
    if not corpus.documents:
        raise RagError("the corpus store is empty: run `rag ingest` first")
    if as_json:
        _print_json([d.to_json() for d in corpus.documents])
        return
    for d in corpus.documents:
        flag = "" if d.printed else "  [listed, not printed]"
        no = d.doc_no or "(无文号)"
        typer.echo(f"{no}\t{d.date or '-'}\t{len(d.clauses):>3} clauses\t{d.title}{flag}")


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
            out = doc.to_json()
            out["clauses"] = [_clause_json(c) for c in doc.clauses]
            _print_json(out)
            return
        typer.echo(f"{doc.doc_no} 《{doc.title}》" if doc.doc_no else f"《{doc.title}》")
        typer.echo(f"{doc.issuer}  {doc.date}  source {doc.span or doc.source}")
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


@app.command()
@friendly
def index(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="re-embed everything")] = False,
) -> None:
    """Build or update the search index from the corpus store."""
    from rag.index.lifecycle import reindex

    s = _settings()
    outcome = reindex(s, rebuild=rebuild, on_wait=_say_err)
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
        typer.echo(f"[{i}] {head} 《{c.title}》")
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
) -> None:
    """Start the web app (citizen chat, clerk console, documents) and the HTTP API."""
    from rag.interfaces.server import serve as run_server

    s = _settings()
    if not (s.index_dir / "manifest.json").exists():
        raise RagError("no index yet: run `rag ingest` and `rag index` first (or `make run`)")
    run_server(s, host, port)


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


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
