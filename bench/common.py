"""Shared by the benchmark sections: paths, timing helpers, tables, child processes."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
CACHE = ROOT / "bench" / ".cache"  # ignored by git (.cache/)
PY = sys.executable
RESULTS: dict = {}  # every section's figures, for the summary and --json

def pct(xs, p) -> float:
    return float(np.percentile(np.asarray(xs, dtype=float), p)) if len(xs) else float("nan")


def ms(x: float) -> str:
    return f"{x * 1e3:8.2f} ms"


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} {b:.2f} {c:.2f}"


def table(title: str, header: list[str], rows: list[list], note: str = "") -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print(f"\n## {title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    if note:
        print(note)
    sys.stdout.flush()


def dev_questions() -> list[str]:
    with open(DEV, encoding="utf-8") as fh:
        return [json.loads(line)["question"] for line in fh if line.strip()]


def bench_settings(**overrides):
    from qa.settings import Settings

    return Settings.from_env(index_dir=CACHE / "index", **overrides)


def child_env() -> dict:
    env = dict(os.environ)
    env["QA_INDEX_DIR"] = str(CACHE / "index")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_child(code: str, *args: str, timeout: float = 3600, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    out = subprocess.run([PY, "-c", code, *args], capture_output=True, text=True, env=env or child_env(),
                         cwd=ROOT, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])



# ---- env ----------------------------------------------------------------------

def section_env() -> None:
    import faiss

    info = {
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": load(),
        "faiss": faiss.__version__, "faiss_omp_threads": faiss.omp_get_max_threads(),
        "machine": platform.machine(), "numpy": np.__version__,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
    }
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    RESULTS["env"] = info
    print("# qa speed benchmark  " + time.strftime("%Y-%m-%d %H:%M:%S"))
    print("  ".join(f"{k}={v}" for k, v in info.items()))
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print("NOTE: load average above the core count: other processes share the CPUs, so absolute "
              "timings are inflated; the interleaved ratios are the fairer figures.")


# ---- warm index ---------------------------------------------------------------

def ensure_index() -> None:
    """A built index over the real corpus in bench/.cache/index (kept between runs)."""
    from qa.pipeline import Engine

    t0 = time.perf_counter()
    report = Engine(bench_settings()).build(progress=False)
    if report is not None:
        print(f"(built the benchmark index in {time.perf_counter() - t0:.1f}s: {report.chunks} chunks)")



class CachedEncoder:
    """Stands in for the encoder so that only the non-encoder work is timed."""

    def __init__(self, real, questions):
        self.real = real
        self.cache = {q: v for q, v in zip(questions, real.encode_queries(questions))}

    def encode_queries(self, texts):
        return np.stack([self.cache[t] for t in texts])

    def __getattr__(self, name):
        return getattr(self.real, name)



def interleaved(fns: dict, qs: list[str], rounds: int, clock=time.perf_counter) -> dict:
    """Each question through every fn, rotating the order, timed with ``clock``:
    background load hits every side alike."""
    out = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for i, q in enumerate(qs):
            rot = (i + r) % len(names)
            for name in names[rot:] + names[:rot]:
                t0 = clock()
                fns[name](q)
                out[name].append(clock() - t0)
    return out
