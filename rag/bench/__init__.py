"""`rag bench`: retrieval quality, build time, latency, memory, ANN scale and answers.

``run_bench(settings, sections, quick, out_dir)`` runs the chosen sections in order, writes
``<out_dir>/<section>.json`` (with the machine, load average and versions) and regenerates
that section's block of the benchmark README. ``python -m rag.bench --help`` for the
command line. Heavy modules (numpy, faiss, the embedding model) load inside the sections.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.bench.common import (
    DEFAULT_GOLD,
    DEFAULT_OUT,
    RUN_ORDER,
    SECTIONS,
    busy_processes,
    fmt,
    load_average,
    log,
    machine_info,
    render_section,
    update_readme,
    write_json,
)

if TYPE_CHECKING:
    from rag.settings import Settings

__all__ = ["DEFAULT_OUT", "SECTIONS", "main", "parse_sections", "run_bench", "target_lines"]


def parse_sections(names: Sequence[str] | None) -> list[str]:
    """Validate section names (comma-separated values allowed); all sections for None/[]."""
    if not names:
        return list(RUN_ORDER)
    out: list[str] = []
    for raw in names:
        for name in raw.split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in SECTIONS:
                from rag.errors import InputError

                raise InputError(
                    f"unknown bench section {name!r}: choose from {', '.join(SECTIONS)}"
                )
            if name not in out:
                out.append(name)
    return [s for s in RUN_ORDER if s in out]


def default_readme(out_dir: Path) -> Path:
    """bench/README.md for the default results directory, else README.md inside ``out_dir``."""
    if Path(out_dir).resolve() == DEFAULT_OUT.resolve():
        return DEFAULT_OUT.parent / "README.md"
    return Path(out_dir) / "README.md"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_bench(
    settings: Settings,
    sections: list[str] | None = None,
    quick: bool = False,
    out_dir: Path = DEFAULT_OUT,
    *,
    gold: Path | None = None,
    readme: Path | None = None,
) -> dict[str, Any]:
    """Run the sections; returns section name → the result written to ``<section>.json``.

    A section that raises is recorded with its error (and the others still run); the
    returned result then has an ``"error"`` entry.
    """
    from rag.bench.context import Context

    chosen = parse_sections(sections)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    readme_path = readme or default_readme(out_dir)
    ctx = Context(settings, quick=quick, gold_path=Path(gold or DEFAULT_GOLD))
    machine = machine_info()
    log(
        f"sections: {', '.join(chosen)}{' (quick)' if quick else ''}; RAG_HOME={settings.home}; "
        f"results -> {out_dir}"
    )
    results: dict[str, Any] = {}
    for name in chosen:
        log(f"== {name}")
        before = load_average()
        busy = busy_processes()
        started = _now()
        t0 = time.perf_counter()
        error = ""
        part: dict[str, Any] = {}
        try:
            mod = importlib.import_module(f"rag.bench.{name}")
            part = mod.run(ctx)
        except KeyboardInterrupt:
            raise
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            log(f"{name} failed: {error}")
        after = load_average()
        result: dict[str, Any] = {
            "section": name,
            "started_at": started,
            "finished_at": _now(),
            "seconds": round(time.perf_counter() - t0, 1),
            "quick": quick,
            "rag_home": str(settings.home),
            "machine": machine,
            "load": {
                "before": before,
                "after": after,
                "before_1m": before[0] if before else None,
                "after_1m": after[0] if after else None,
            },
            "busy_processes_at_start": busy,
            "params": part.get("params", {}),
            "results": part.get("results", {}),
            "tables": part.get("tables", []),
            "targets": part.get("targets", []),
            "notes": [*part.get("notes", []), *ctx.notes],
        }
        if busy:
            result["notes"].append(
                "Other processes busy at the start: "
                + ", ".join(f"{p['name']} ({p['cpu_percent']}% CPU)" for p in busy[:5])
                + "."
            )
        ctx.notes.clear()
        if error:
            result["error"] = error
        write_json(out_dir / f"{name}.json", result)
        update_readme(readme_path, name, render_section(result))
        results[name] = result
        log(f"{name}: done in {result['seconds']:.0f} s -> {out_dir / (name + '.json')}")
    return results


def target_lines(results: dict[str, Any]) -> list[str]:
    """One line per target (and per failed section), for the end of a run."""
    lines = []
    for name, res in results.items():
        if res.get("error"):
            lines.append(f"{name}: FAILED {res['error']}")
        for t in res.get("targets", []):
            mark = {True: "ok", False: "MISSED", None: "n/a"}[t["ok"]]
            unit = f" {t['unit']}" if t.get("unit") else ""
            lines.append(
                f"{name}: {t['name']} = {fmt(t['value'])}{unit} "
                f"(target {t['op']} {fmt(t['limit'])}{unit}) {mark}"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rag.bench [--only SECTION]… [--quick] [--out DIR] [--gold FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m rag.bench", description=__doc__)
    parser.add_argument(
        "--only", action="append", default=[], help=f"section(s): {', '.join(SECTIONS)}"
    )
    parser.add_argument("--quick", action="store_true", help="scale at 100k only, fewer repeats")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="gold JSONL")
    args = parser.parse_args(argv)
    from rag.errors import RagError
    from rag.settings import Settings

    try:
        results = run_bench(Settings(), args.only or None, args.quick, args.out, gold=args.gold)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for line in target_lines(results):
        print(line)
    return 1 if any(r.get("error") for r in results.values()) else 0
