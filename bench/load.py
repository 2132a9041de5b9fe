"""Load test (issue #5): concurrent gradio_client clients against the running app.

    python bench/load.py                         # 8 clients x 200 questions each, on /ask
    python bench/load.py --clients 4 --questions 50 --endpoint both
    python bench/load.py --url http://127.0.0.1:7860/   # an app that is already running

Starts ``python app.py --port <port>`` (a free port unless ``--port``), waits
until it serves, and runs ``--clients`` threads, each with its own
``gradio_client.Client``, asking ``--questions`` questions in turn from the
dev set (cycled, each client starting at a different question). It reports
errors (there must be none), throughput and latency percentiles, and always
stops the app it started. Exit status 1 when any request failed.

A benchmark, not a test: timings are wall-clock on whatever else the machine
is doing, so the load average is printed with them.
"""
from __future__ import annotations

import argparse
import json
import os
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
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_questions(path: Path) -> list[str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows if r.get("question")]
    if not questions:
        raise SystemExit(f"no questions in {path}")
    return questions


def _default_sigint() -> None:
    # a background shell starts us with SIGINT ignored and the app would inherit that;
    # with the default restored, Python turns SIGINT into a clean KeyboardInterrupt shutdown
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class App:
    """``python app.py`` in its own process group; stopped (and its children) on exit."""

    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "GRADIO_ANALYTICS_ENABLED": "False"}
        self.proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_default_sigint)

    def wait_ready(self, timeout: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"app.py exited with {self.proc.returncode} before serving:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=5) as resp:
                    if resp.status == 200:
                        return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"app.py did not serve within {timeout:.0f}s:\n{self.tail()}")

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


def run_client(url: str, n: int, offset: int, questions: list[str], endpoints: list[str], k: int,
               out: list, errors: list, progress) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    except Exception as exc:
        errors.append(("connect", "", f"{type(exc).__name__}: {exc}"))
        return
    try:
        for i in range(n):
            q = questions[(offset + i) % len(questions)]
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--questions", type=int, default=200, help="questions per client (default 200)")
    ap.add_argument("--port", type=int, default=0, help="port for app.py (default: a free one)")
    ap.add_argument("--url", help="use an app that is already running at this URL (not started or stopped)")
    ap.add_argument("--endpoint", choices=["ask", "retrieve", "both"], default="ask")
    ap.add_argument("--k", type=int, default=5, help="passages per question")
    ap.add_argument("--file", type=Path, default=DEV, help="JSONL with a 'question' per line")
    ap.add_argument("--startup-timeout", type=float, default=900, help="seconds to wait for app.py")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.questions < 1:
        ap.error("--clients and --questions must be at least 1")

    questions = load_questions(args.file)
    endpoints = ["ask", "retrieve"] if args.endpoint == "both" else [args.endpoint]
    app = None
    # SIGTERM (e.g. from `timeout`) should stop the app too, through the finally below
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.url:
            url, startup = args.url.rstrip("/") + "/", None
        else:
            port = args.port or free_port()
            app = App(port, Path(os.environ.get("TMPDIR", "/tmp")) / f"qa-load-app-{port}.log")
            print(f"starting app.py on port {port} (log: {app.log_path}) ...", file=sys.stderr)
            startup = app.wait_ready(args.startup_timeout)
            url = app.url
            print(f"app serving after {startup:.1f}s", file=sys.stderr)

        from gradio_client import Client

        warm = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        for endpoint in endpoints:  # first calls (JIT, caches) don't count
            warm.predict(questions[0], args.k, api_name=f"/{endpoint}")
        warm.close()

        total = args.clients * args.questions
        latencies: list = []
        errors: list = []
        done = [0]
        lock = threading.Lock()
        t_start = time.perf_counter()

        def progress():
            with lock:
                done[0] += 1
                if done[0] % max(1, total // 10) == 0 or done[0] == total:
                    rate = done[0] / (time.perf_counter() - t_start)
                    print(f"  {done[0]}/{total} requests, {rate:.2f}/s, {len(errors)} errors",
                          file=sys.stderr, flush=True)

        threads = [threading.Thread(target=run_client, daemon=True,
                                    args=(url, args.questions, c * len(questions) // args.clients, questions,
                                          endpoints, args.k, latencies, errors, progress))
                   for c in range(args.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t_start
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if app is not None:
            app.stop()
            print(f"app stopped (exit {app.proc.returncode})", file=sys.stderr)

    secs = [s for _, s in latencies]
    report = {
        "clients": args.clients, "questions_per_client": args.questions, "endpoint": args.endpoint,
        "requests": len(latencies), "errors": len(errors), "wall_s": round(wall, 1),
        "throughput_rps": round(len(latencies) / wall, 2) if wall else None,
        "latency_s": {name: round(f(secs), 3) for name, f in (
            ("p50", lambda v: pct(v, 50)), ("p95", lambda v: pct(v, 95)), ("p99", lambda v: pct(v, 99)),
            ("max", lambda v: max(v, default=float("nan"))),
            ("mean", lambda v: statistics.fmean(v) if v else float("nan")))},
        "startup_s": round(startup, 1) if startup is not None else None,
        "cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    if args.endpoint == "both":
        for endpoint in endpoints:
            sub = [s for e, s in latencies if e == endpoint]
            report[f"latency_s_{endpoint}"] = {"p50": round(pct(sub, 50), 3), "p95": round(pct(sub, 95), 3)}
    print(f"\nload test: {args.clients} clients x {args.questions} questions on /{args.endpoint} ({url})")
    print(f"  requests    {report['requests']}   errors {report['errors']}")
    print(f"  wall        {report['wall_s']} s   throughput {report['throughput_rps']} req/s")
    lat = report["latency_s"]
    print(f"  latency     p50 {lat['p50']:.3f} s   p95 {lat['p95']:.3f} s   p99 {lat['p99']:.3f} s   "
          f"max {lat['max']:.3f} s   mean {lat['mean']:.3f} s")
    if report["startup_s"] is not None:
        print(f"  app start   {report['startup_s']} s (model + index load, warm-up)")
    print(f"  machine     {report['cpus']} CPUs, load average {report['loadavg']}")
    for endpoint, q, problem in errors[:10]:
        print(f"  ERROR /{endpoint} {q[:40]!r}: {problem}")
    if args.json:
        args.json.write_text(json.dumps({**report, "error_samples": errors[:50]}, ensure_ascii=False, indent=2),
                             encoding="utf-8")
    return 1 if errors or len(latencies) < args.clients * args.questions else 0


if __name__ == "__main__":
    sys.exit(main())
