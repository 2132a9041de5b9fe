"""Load test (issue #5): concurrent gradio_client clients against the app, one run per query encoder.

    python bench/load.py                         # onnx then st, 8 clients x 40 questions each, on /ask
    python bench/load.py --encoders onnx         # the default encoder only
    python bench/load.py --clients 4 --questions 20 --endpoint both
    python bench/load.py --file shared/eval/dev.jsonl --json /tmp/load.json
    python bench/load.py --url http://127.0.0.1:7860/   # an app that is already running ("external")

For each encoder in ``--encoders`` (comma-separated, default ``onnx,st``), in
turn, it starts ``python app.py --port <port>`` (a free port unless ``--port``)
with ``QA_ENCODER=<encoder>`` and the rest of the environment unchanged, waits
until it serves, warms it with a question that no client asks, runs
``--clients`` threads, each with its own ``gradio_client.Client``, asking its
``--questions`` questions in turn, and stops the app before the next encoder.
``--url`` uses an app that is already running instead: a single run labelled
``external`` (whatever encoder it has), neither started nor stopped.

Questions come from the project's question pool, ``eval/pool/*.jsonl`` (a
``question`` per line), or from ``--file``. Every client asks different
questions, so a query cache cannot help: the questions are shuffled once with
``random.Random(0)`` and client ``c`` gets positions ``c*M .. c*M+M-1``
(M = ``--questions``), wrapping around, with a note that some repeat, only
when clients x questions exceeds the source. Every encoder gets exactly the
same assignment.

Each run reports errors (there must be none), throughput and latency
percentiles; then a side-by-side table, one row per encoder, with each
encoder's throughput relative to st's ("x st"), and the goal: onnx at least
3x the req/s of st, measured in the same run. ``--json`` writes all runs and
the comparison. Exit status 1 when any request failed in any run (or an app
did not start).

A benchmark, not a test: timings are wall-clock on whatever else the machine
is doing, so the load average is printed with them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POOL = ROOT / "eval" / "pool"
ENCODERS = ("onnx", "st")  # what QA_ENCODER accepts (qa.embedding.ENCODERS)
REFERENCE = "st"
GOAL_ENCODER, GOAL_RATIO = "onnx", 3.0
GOAL = "goal: onnx >= 3x the req/s of st, measured in the same run, every client asking different questions"
SEED = 0
# the warm-up question: in no source, so it leaves nothing in the query cache that a client asks
WARM_UP = "负载测试预热：这个问题不在题库里，只用来加载模型和索引。"


class AppFailed(Exception):
    """The app exited or did not serve in time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_questions(paths: list[Path]) -> list[str]:
    """The distinct questions in ``paths`` (JSONL, a 'question' per line), first occurrence first."""
    seen: dict[str, None] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line).get("question")
                if q:
                    seen.setdefault(q, None)
    if not seen:
        raise SystemExit(f"no questions in {', '.join(map(str, paths))}")
    return list(seen)


def assign(questions: list[str], clients: int, per_client: int, seed: int = SEED) -> tuple[list[list[str]], int]:
    """Client c's questions: positions c*M .. c*M+M-1 of the pool shuffled once with ``seed``,
    wrapping around only when clients x M exceeds it. Returns the lists and how many requests
    repeat a question that an earlier position already has (0 unless it wrapped)."""
    shuffled = list(questions)
    random.Random(seed).shuffle(shuffled)
    n = len(shuffled)
    plan = [[shuffled[(c * per_client + i) % n] for i in range(per_client)] for c in range(clients)]
    return plan, max(0, clients * per_client - n)


def _default_sigint() -> None:
    # a background shell starts us with SIGINT ignored and the app would inherit that;
    # with the default restored, Python turns SIGINT into a clean KeyboardInterrupt shutdown
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class App:
    """``python app.py`` in its own process group; stopped (and its children) on exit."""

    def __init__(self, port: int, log_path: Path, encoder: str):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "GRADIO_ANALYTICS_ENABLED": "False", "QA_ENCODER": encoder}
        self.proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_default_sigint)

    def wait_ready(self, timeout: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise AppFailed(f"app.py exited with {self.proc.returncode} before serving:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=5) as resp:
                    if resp.status == 200:
                        return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.5)
        raise AppFailed(f"app.py did not serve within {timeout:.0f}s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        self.log.flush()
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.log.close()


def run_client(url: str, questions: list[str], endpoints: list[str], k: int,
               out: list, errors: list, progress, start: threading.Barrier) -> None:
    """Connect, wait at ``start`` until every client has, then ask ``questions`` in turn."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    except Exception as exc:
        errors.append(("connect", "", f"{type(exc).__name__}: {exc}"))
        client = None
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    if client is None:
        return
    try:
        for i, q in enumerate(questions):
            endpoint = endpoints[i % len(endpoints)]
            t0 = time.perf_counter()
            try:
                result = client.predict(q, k, api_name=f"/{endpoint}")
                problem = check(endpoint, result)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - t0
            out.append((endpoint, seconds))
            if problem:
                errors.append((endpoint, q, problem))
            progress()
    finally:
        try:
            client.close()
        except Exception:
            pass


def check(endpoint: str, result) -> str | None:
    """Why a response is not a well-formed answer, or None."""
    if endpoint == "ask":
        if not isinstance(result, dict) or "passages" not in result or "answer" not in result:
            return f"malformed /ask response: {str(result)[:200]}"
        if not result["passages"]:
            return "no passages"
    elif not isinstance(result, list) or not result or "text" not in result[0]:
        return f"malformed /retrieve response: {str(result)[:200]}"
    return None


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    i = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[i]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def warm_up(url: str, endpoints: list[str], k: int) -> float:
    """First calls (JIT, caches) don't count; the question is one no client asks."""
    from gradio_client import Client

    t0 = time.perf_counter()
    warm = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    try:
        for endpoint in endpoints:
            problem = check(endpoint, warm.predict(WARM_UP, k, api_name=f"/{endpoint}"))
            if problem:
                raise RuntimeError(problem)
    finally:
        warm.close()
    return time.perf_counter() - t0


def workload(url: str, plan: list[list[str]], endpoints: list[str], k: int) -> tuple[list, list, float]:
    """Every client's questions, concurrently: (endpoint, seconds) per request, errors, wall seconds.

    The clock runs from the moment every client has connected to the last answer, so connecting
    and closing the clients is not counted against the app."""
    total = sum(len(qs) for qs in plan)
    latencies: list = []
    errors: list = []
    done = [0]
    lock = threading.Lock()
    start = threading.Barrier(len(plan) + 1)
    t_start = t_last = time.perf_counter()

    def progress():
        nonlocal t_last
        with lock:
            done[0] += 1
            t_last = time.perf_counter()
            if done[0] % max(1, total // 10) == 0 or done[0] == total:
                rate = done[0] / (time.perf_counter() - t_start)
                print(f"  {done[0]}/{total} requests, {rate:.2f}/s, {len(errors)} errors",
                      file=sys.stderr, flush=True)

    threads = [threading.Thread(target=run_client, daemon=True,
                                args=(url, qs, endpoints, k, latencies, errors, progress, start))
               for qs in plan]
    for th in threads:
        th.start()
    try:
        start.wait(timeout=300)
    except threading.BrokenBarrierError:
        errors.append(("connect", "", "the clients did not all connect within 300 s"))
    with lock:
        t_start = time.perf_counter()
        if not done[0]:
            t_last = t_start
    for th in threads:
        th.join()
    return latencies, errors, (t_last - t_start) if latencies else 0.0


def one_run(label: str, args, plan: list[list[str]], endpoints: list[str]) -> dict:
    """Start the app with QA_ENCODER=label (unless --url), warm it, run the workload, stop it."""
    app = None
    url = args.url
    startup = warm_s = None
    latencies: list = []
    errors: list = []
    wall = 0.0
    try:
        if args.url:
            url = args.url.rstrip("/") + "/"
        else:
            port = args.port or free_port()
            app = App(port, Path(os.environ.get("TMPDIR", "/tmp")) / f"qa-load-app-{label}-{port}.log", label)
            url = app.url
            print(f"[{label}] starting app.py with QA_ENCODER={label} on port {port} (log: {app.log_path}) ...",
                  file=sys.stderr)
            startup = app.wait_ready(args.startup_timeout)
            print(f"[{label}] app serving after {startup:.1f}s", file=sys.stderr)
        warm_s = warm_up(url, endpoints, args.k)
        print(f"[{label}] warmed up in {warm_s:.1f}s; {len(plan)} clients x {args.questions} questions ...",
              file=sys.stderr)
        latencies, errors, wall = workload(url, plan, endpoints, args.k)
    except AppFailed as exc:
        errors.append(("start", "", str(exc)))
    except Exception as exc:  # the warm-up failed: the app does not answer
        errors.append(("warm-up", WARM_UP, f"{type(exc).__name__}: {exc}"))
    finally:
        if app is not None:
            app.stop()
            print(f"[{label}] app stopped (exit {app.proc.returncode})", file=sys.stderr)

    secs = [s for _, s in latencies]
    expected = sum(len(qs) for qs in plan)
    report = {
        "encoder": label, "url": url,
        "clients": len(plan), "questions_per_client": args.questions, "endpoint": args.endpoint,
        "requests": len(latencies), "expected_requests": expected, "errors": len(errors),
        "wall_s": round(wall, 1),
        "throughput_rps": round(len(latencies) / wall, 2) if wall else None,
        "latency_s": {name: round(f(secs), 3) for name, f in (
            ("p50", lambda v: pct(v, 50)), ("p95", lambda v: pct(v, 95)), ("p99", lambda v: pct(v, 99)),
            ("max", lambda v: max(v, default=float("nan"))),
            ("mean", lambda v: statistics.fmean(v) if v else float("nan")))},
        "startup_s": round(startup, 1) if startup is not None else None,
        "warm_up_s": round(warm_s, 1) if warm_s is not None else None,
        "cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()],
        "error_samples": errors[:50],
    }
    if args.endpoint == "both":
        for endpoint in endpoints:
            sub = [s for e, s in latencies if e == endpoint]
            report[f"latency_s_{endpoint}"] = {"p50": round(pct(sub, 50), 3), "p95": round(pct(sub, 95), 3)}
    print_run(report)
    return report


def print_run(report: dict) -> None:
    print(f"\nload test [{report['encoder']}]: {report['clients']} clients x {report['questions_per_client']} "
          f"questions on /{report['endpoint']} ({report['url']})")
    print(f"  requests    {report['requests']}   errors {report['errors']}")
    print(f"  wall        {report['wall_s']} s   throughput {report['throughput_rps']} req/s")
    lat = report["latency_s"]
    print(f"  latency     p50 {lat['p50']:.3f} s   p95 {lat['p95']:.3f} s   p99 {lat['p99']:.3f} s   "
          f"max {lat['max']:.3f} s   mean {lat['mean']:.3f} s")
    if report["startup_s"] is not None:
        print(f"  app start   {report['startup_s']} s (model + index load, warm-up)")
    print(f"  machine     {report['cpus']} CPUs, load average {report['loadavg']}")
    for endpoint, q, problem in report["error_samples"][:10]:
        print(f"  ERROR /{endpoint} {q[:40]!r}: {problem}")
    sys.stdout.flush()


def compare(runs: list[dict], repeats: int) -> dict:
    """One row per run with its req/s relative to st's, and whether the goal was met."""
    by = {r["encoder"]: r for r in runs}
    ref = by.get(REFERENCE)
    ref_rps = ref["throughput_rps"] if ref else None
    rows = []
    for r in runs:
        rps = r["throughput_rps"]
        rows.append({"encoder": r["encoder"], "requests": r["requests"], "errors": r["errors"],
                     "wall_s": r["wall_s"], "rps": rps, "p50_s": r["latency_s"]["p50"],
                     "p95_s": r["latency_s"]["p95"], "startup_s": r["startup_s"],
                     "x_st": round(rps / ref_rps, 2) if rps and ref_rps else None})
    goal = {"text": GOAL, "ratio": None, "met": None, "why": None}
    cand = by.get(GOAL_ENCODER)
    if cand is None or ref is None:
        goal["why"] = f"not measured: needs both {GOAL_ENCODER} and {REFERENCE} in this run"
    else:
        if cand["throughput_rps"] and ref_rps:
            goal["ratio"] = round(cand["throughput_rps"] / ref_rps, 2)
        if cand["errors"] or ref["errors"] or cand["requests"] < cand["expected_requests"] \
                or ref["requests"] < ref["expected_requests"]:
            goal["met"], goal["why"] = False, "not met: a run had errors or missing requests"
        elif goal["ratio"] is None:
            goal["met"], goal["why"] = False, "not met: no throughput measured"
        else:
            goal["met"] = goal["ratio"] >= GOAL_RATIO
            goal["why"] = (f"{'MET' if goal['met'] else 'NOT met'}: {GOAL_ENCODER} is {goal['ratio']:.2f}x "
                           f"{REFERENCE} ({cand['throughput_rps']} vs {ref_rps} req/s)")
        if repeats:
            goal["why"] += (f"; note: {repeats} of {cand['expected_requests']} requests repeat a question "
                            f"(the source is smaller than clients x questions)")
    return {"rows": rows, "goal": goal}


def print_table(comparison: dict) -> None:
    def cell(v, fmt):
        return "-" if v is None else format(v, fmt)

    head = ("encoder", "requests", "errors", "wall s", "req/s", "p50 s", "p95 s", "app start s", "x st")
    lines = [head] + [(r["encoder"], str(r["requests"]), str(r["errors"]), cell(r["wall_s"], ".1f"),
                       cell(r["rps"], ".2f"), cell(r["p50_s"], ".3f"), cell(r["p95_s"], ".3f"),
                       cell(r["startup_s"], ".1f"), "-" if r["x_st"] is None else f"{r['x_st']:.2f}x")
                      for r in comparison["rows"]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    print("\ncomparison (same questions, same clients, one encoder after the other)")
    for n, line in enumerate(lines):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print(f"\n{GOAL}")
    print(f"  {comparison['goal']['why']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoders", help=f"comma-separated QA_ENCODER values, run in turn (default onnx,st; "
                                       f"one of: {', '.join(ENCODERS)})")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--questions", type=int, default=40, help="questions per client, all different (default 40)")
    ap.add_argument("--port", type=int, default=0, help="port for app.py (default: a free one per run)")
    ap.add_argument("--url", help="use an app that is already running at this URL (not started or stopped; "
                                  "one run, labelled 'external')")
    ap.add_argument("--endpoint", choices=["ask", "retrieve", "both"], default="ask")
    ap.add_argument("--k", type=int, default=5, help="passages per question")
    ap.add_argument("--file", type=Path, help=f"JSONL with a 'question' per line (default: {POOL}/*.jsonl)")
    ap.add_argument("--startup-timeout", type=float, default=900, help="seconds to wait for app.py")
    ap.add_argument("--json", type=Path, help="also write all runs and the comparison here")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.questions < 1:
        ap.error("--clients and --questions must be at least 1")
    if args.url:
        if args.encoders:
            print("note: --url runs the app that is already there; --encoders is ignored", file=sys.stderr)
        labels = ["external"]
    else:
        labels = list(dict.fromkeys(e.strip().lower() for e in (args.encoders or "onnx,st").split(",") if e.strip()))
        unknown = [e for e in labels if e not in ENCODERS]
        if not labels or unknown:
            ap.error(f"--encoders: unknown {', '.join(unknown) or '(none given)'} (one of: {', '.join(ENCODERS)})")

    if args.file:
        sources = [args.file]
    else:
        sources = sorted(POOL.glob("*.jsonl"))
        if not sources:
            raise SystemExit(f"no question pool: {POOL}/*.jsonl")
    questions = load_questions(sources)
    plan, repeats = assign(questions, args.clients, args.questions)
    source = str(args.file) if args.file else f"{POOL.relative_to(ROOT)}/*.jsonl"
    print(f"questions: {len(questions)} distinct from {source}, shuffled with random.Random({SEED}); "
          f"{args.clients} clients x {args.questions} each", file=sys.stderr)
    if repeats:
        print(f"note: {args.clients} x {args.questions} = {args.clients * args.questions} exceeds the "
              f"{len(questions)} distinct questions, so {repeats} requests repeat a question "
              f"(and may hit the query cache)")
    endpoints = ["ask", "retrieve"] if args.endpoint == "both" else [args.endpoint]

    # SIGTERM (e.g. from `timeout`) should stop the app too, through one_run's finally
    signal.signal(signal.SIGTERM, _interrupt)
    runs = []
    try:
        for label in labels:
            runs.append(one_run(label, args, plan, endpoints))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    comparison = compare(runs, repeats)
    print_table(comparison)
    if args.json:
        workload_info = {"clients": args.clients, "questions_per_client": args.questions,
                         "endpoint": args.endpoint, "k": args.k, "source": source,
                         "distinct_questions": len(questions), "seed": SEED, "repeats": repeats,
                         "encoders": labels,
                         "assignment_sha1": hashlib.sha1(json.dumps(plan, ensure_ascii=False).encode()).hexdigest()}
        args.json.write_text(json.dumps({"workload": workload_info, "runs": runs, "comparison": comparison},
                                        ensure_ascii=False, indent=2), encoding="utf-8")
    failed = any(r["errors"] or r["requests"] < r["expected_requests"] for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
