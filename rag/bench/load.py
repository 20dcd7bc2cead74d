"""Section ``load``: many clients at once against a real ``rag serve``, 1 and 2 workers.

For each worker count a server is started as its own process (``rag serve --workers N``
on a free loopback port, over ``$RAG_HOME``), waited for at ``/api/health`` and warmed
up; then ``CLIENTS`` clients (asyncio + httpx, one connection each) post questions to
``/api/ask`` back to back for ``SECONDS`` seconds. Questions are every question of
``eval/gold/*.jsonl`` (answerable and not, citizens' and clerks'), shuffled with a fixed
seed; client ``i`` starts at question ``i``. Measured: completed requests per second,
latency p50/p95/max (client side, from send to the whole body read), errors (any status
other than 200, or a failed connection), and the resident memory of the serving process
and of each worker process (sampled every second; the maximum is reported).

Only loopback addresses are ever contacted, the loop is bounded in time and the server
is stopped at the end. The load generator runs on the same machine and takes a share of
its cores (its CPU time is reported).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.bench.common import PROJECT_ROOT, MiB, fmt, latency_summary, log, target

CLIENTS = 50
SECONDS = 60.0
QUICK_SECONDS = 20.0
WORKERS = (1, 2)
SEED = 15
START_TIMEOUT_S = 300.0
REQUEST_TIMEOUT_S = 60.0
GOLD_DIR = PROJECT_ROOT / "eval" / "gold"


@dataclass
class LoadResult:
    """What one load run measured (latencies in ms)."""

    clients: int
    seconds: float
    requests: int
    errors: int
    throughput_rps: float
    latency_ms: dict[str, Any]
    error_kinds: dict[str, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def gold_questions(gold_dir: Path = GOLD_DIR, seed: int = SEED) -> list[str]:
    """Every question of the gold files, deduplicated, shuffled with a fixed seed."""
    seen: dict[str, None] = {}
    for path in sorted(gold_dir.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                q = str(json.loads(line).get("question", "")).strip()
                if q:
                    seen.setdefault(q, None)
    questions = list(seen)
    random.Random(seed).shuffle(questions)
    return questions


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client(
    i: int,
    base_url: str,
    questions: list[str],
    deadline: float,
    latencies: list[float],
    errors: dict[str, int],
) -> None:
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits, trust_env=False
    ) as client:
        n = i
        while time.perf_counter() < deadline:
            q = questions[n % len(questions)]
            n += 1
            t0 = time.perf_counter()
            try:
                r = await client.post("/api/ask", json={"question": q})
                await r.aread()
                ok = r.status_code == 200
                kind = "" if ok else f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                ok, kind = False, type(e).__name__
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors[kind] = errors.get(kind, 0) + 1


def load_test(
    base_url: str, questions: list[str], *, clients: int = CLIENTS, seconds: float = SECONDS
) -> LoadResult:
    """``clients`` concurrent clients posting ``questions`` to ``base_url`` for ``seconds``."""
    if not base_url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise ValueError(f"the load test only targets loopback addresses, not {base_url}")
    if not questions:
        raise ValueError("no questions to send")
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cpu0 = time.process_time()

    async def main() -> float:
        t0 = time.perf_counter()
        deadline = t0 + seconds
        await asyncio.gather(
            *(_client(i, base_url, questions, deadline, latencies, errors) for i in range(clients))
        )
        return time.perf_counter() - t0

    wall = asyncio.run(main())
    n_err = sum(errors.values())
    return LoadResult(
        clients=clients,
        seconds=round(wall, 2),
        requests=len(latencies) + n_err,
        errors=n_err,
        throughput_rps=round(len(latencies) / wall, 2) if wall > 0 else 0.0,
        latency_ms=latency_summary(latencies, 1),
        error_kinds=errors,
        client_cpu_s=round(time.process_time() - cpu0, 1),
    )


# --------------------------------------------------------------------------- the server


class ServerProcess:
    """``rag serve --workers N`` on a free loopback port, as a child process."""

    def __init__(
        self, workers: int, env: dict[str, str] | None = None, log_path: Path | None = None
    ):
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_s = 0.0

    def __enter__(self) -> ServerProcess:
        import httpx

        cmd = [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--workers", str(self.workers)]
        out = self.log_path.open("wb") if self.log_path else subprocess.DEVNULL
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
        )
        deadline = t0 + START_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rag serve exited with {self.proc.returncode} at start")
            try:
                r = httpx.get(f"{self.base_url}/api/health", timeout=5, trust_env=False)
                if r.status_code == 200 and r.json().get("status") == "ok":
                    self.started_s = time.perf_counter() - t0
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"rag serve did not answer /api/health within {START_TIMEOUT_S:.0f} s")

    def __exit__(self, *exc: object) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def rss_mib(self) -> dict[str, float]:
        """RSS of the serving process and of each worker process (``worker-<pid>``)."""
        import psutil

        assert self.proc is not None
        out: dict[str, float] = {}
        try:
            root = psutil.Process(self.proc.pid)
            out["server"] = root.memory_info().rss / MiB
            for child in root.children(recursive=True):
                cmd = " ".join(child.cmdline())
                if "resource_tracker" in cmd:
                    continue
                out[f"worker-{child.pid}"] = child.memory_info().rss / MiB
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        return out


class _RssSampler:
    """Samples ``ServerProcess.rss_mib`` every second in a thread; keeps the maximum."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for k, v in self.server.rss_mib().items():
                self.peak[k] = max(v, self.peak.get(k, 0.0))
            self._stop.wait(1.0)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_one(
    workers: int,
    questions: list[str],
    *,
    clients: int = CLIENTS,
    seconds: float = SECONDS,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> dict[str, Any]:
    """Start a server with ``workers`` workers, load it, stop it; the measurements."""
    with ServerProcess(workers, env, log_path) as server:
        log(f"load: {workers} worker(s) up in {server.started_s:.1f} s; warming up")
        load_test(server.base_url, questions, clients=min(clients, 4), seconds=3.0)
        log(f"load: {clients} clients for {seconds:.0f} s")
        with _RssSampler(server) as sampler:
            res = load_test(server.base_url, questions, clients=clients, seconds=seconds)
        rss = {k: round(v, 1) for k, v in sorted(sampler.peak.items())}
    worker_rss = [v for k, v in rss.items() if k.startswith("worker-")]
    return {
        "workers": workers,
        "start_s": round(server.started_s, 1),
        **res.to_json(),
        "rss_peak_mib": rss,
        "rss_per_worker_mib": round(max(worker_rss), 1) if worker_rss else rss.get("server"),
        "rss_total_mib": round(sum(rss.values()), 1),
    }


def run(ctx: Any) -> dict[str, Any]:
    ctx.ensure_index()
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    questions = gold_questions()
    env = {"RAG_HOME": str(ctx.settings.home), "RAG_EMBEDDER": ctx.settings.embedder}
    logs = ctx.cache_dir / "load"
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    for w in WORKERS:
        rows.append(
            run_one(w, questions, seconds=seconds, env=env, log_path=logs / f"serve-{w}.log")
        )
        log(
            f"load: {w} worker(s): {rows[-1]['throughput_rps']} req/s, "
            f"p50 {rows[-1]['latency_ms']['p50']} ms, errors {rows[-1]['errors']}"
        )
    table = {
        "title": f"{CLIENTS} concurrent clients, {seconds:.0f} s, POST /api/ask (extractive)",
        "columns": [
            "workers",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "max ms",
            "errors",
            "RSS server MiB",
            "RSS per worker MiB",
            "RSS total MiB",
        ],
        "rows": [
            [
                r["workers"],
                r["requests"],
                fmt(r["throughput_rps"], 1),
                fmt(r["latency_ms"]["p50"], 1),
                fmt(r["latency_ms"]["p95"], 1),
                fmt(r["latency_ms"]["max"], 1),
                r["errors"],
                fmt(r["rss_peak_mib"].get("server"), 0),
                fmt(r["rss_per_worker_mib"], 0) if r["workers"] > 1 else "(in server)",
                fmt(r["rss_total_mib"], 0),
            ]
            for r in rows
        ],
    }
    speedup = (
        rows[1]["throughput_rps"] / rows[0]["throughput_rps"]
        if len(rows) > 1 and rows[0]["throughput_rps"]
        else None
    )
    return {
        "params": {
            "clients": CLIENTS,
            "seconds": seconds,
            "workers": list(WORKERS),
            "questions": len(questions),
            "route": "POST /api/ask",
        },
        "results": {"runs": rows, "speedup_2_vs_1": speedup and round(speedup, 2)},
        "tables": [table],
        "targets": [
            target(f"errors with {r['workers']} worker(s)", r["errors"], 0, "<=") for r in rows
        ],
        "notes": [
            f"{len(questions)} distinct questions from eval/gold/*.jsonl, shuffled (seed {SEED}); "
            "loopback only; the load generator shares the machine's cores "
            f"(client CPU {', '.join(str(r['client_cpu_s']) + ' s' for r in rows)}).",
            "workers = 1: retrieval and answering in the serving process; workers = 2: in two "
            "worker processes behind it (the server keeps the web app's sessions). RSS is the "
            "peak sampled every second; a worker's RSS counts the memory-mapped index pages it "
            "shares with the others.",
        ],
    }
