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
    return Settings()


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


@app.command()
@friendly
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="files to add (.txt/.md)")] = None,
) -> None:
    """Parse the shipped corpus (no PATH) or the given files into the corpus store."""
    from rich.console import Console
    from rich.progress import Progress

    from rag.ingest import store
    from rag.ingest.pipeline import ingest as run_ingest
    from rag.ingest.pipeline import shipped_files
    from rag.settings import SHIPPED_CORPUS

    s = _settings()
    files = list(paths) if paths else shipped_files(SHIPPED_CORPUS)
    for p in files:
        if p.suffix not in (".txt", ".md"):
            raise RagError(f"{p}: only .txt and .md files can be ingested")
    corpus = store.load(s.corpus_db)
    err = Console(stderr=True)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("ingest", total=len(files))

        def tick(p: Path) -> None:
            bar.update(task, advance=1, description=p.name)

        corpus, summaries = run_ingest(files, corpus, on_file=tick)
    store.save(corpus, s.corpus_db)
    failed = 0
    for sm in summaries:
        if sm.error:
            failed += 1
            typer.echo(f"error: {sm.error}", err=True)
            continue
        extra = f", {sm.listed_not_printed} listed-not-printed" if sm.listed_not_printed else ""
        fix = ", punctuation repaired" if sm.repaired else ""
        typer.echo(f"{sm.file}: {sm.documents} documents, {sm.clauses} clauses{extra}{fix}")
        for w in sm.warnings:
            typer.echo(f"  warning: {w}")
    typer.echo(
        f"store: {len(corpus.printed())} documents, {len(corpus.clauses())} clauses "
        f"-> {s.corpus_db}"
    )
    if failed:
        raise typer.Exit(1)


@app.command()
@friendly
def clean(file: Path) -> None:
    """Print the repaired text of one file to stdout."""
    from rag.ingest.clean import repair_text
    from rag.ingest.pipeline import read_text

    sys.stdout.write(repair_text(read_text(file)))


@app.command()
@friendly
def docs(as_json: Annotated[bool, typer.Option("--json", help="JSON array")] = False) -> None:
    """List documents."""
    from rag.ingest import store

    corpus = store.load(_settings().corpus_db)
    if not corpus.documents:
        raise RagError("the corpus store is empty: run `rag ingest` first")
    if as_json:
        _print_json([d.to_json() for d in corpus.documents])
        return
    for d in corpus.documents:
        flag = "" if d.printed else "  [listed, not printed]"
        typer.echo(
            f"{d.doc_no or '(无文号)'}\t{d.date or '-'}\t{len(d.clauses):>3} clauses\t{d.title}{flag}"
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
