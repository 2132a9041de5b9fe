"""Index build throughput per encoder: passages per second by batch size, and a whole
build in a fresh process, in one run."""
from __future__ import annotations

from common import RESULTS, child_env, load, run_child, table

BUILD = r"""
import json, os, sys, tempfile, time
from qa import chunking, corpus
from qa.pipeline import Engine
from qa.settings import Settings
s = Settings.from_env(index_dir=tempfile.mkdtemp())
t = time.perf_counter(); eng = Engine(s); eng.encoder.load(); load_s = time.perf_counter() - t
t = time.perf_counter(); rep = eng.build(force=True, progress=False); build_s = time.perf_counter() - t
texts = []
for d in corpus.load_corpus(s.corpus_dir):
    texts += [eng.passage_text(c) for c in chunking.chunk_document(d, s.chunk_size, s.chunk_overlap)]
    texts += [d.text[x.start:x.end] for x in chunking.sentence_spans(d, s.chunk_size)]
rates = {}
for bs in (8, 16, 32, 64):
    enc = eng.encoder
    enc.batch_size = bs
    if hasattr(enc, "_session") and enc._session is not None:
        enc._session.batch_size = bs
    enc.encode_passages(texts[:bs])
    t = time.perf_counter(); enc.encode_passages(texts); rates[bs] = len(texts) / (time.perf_counter() - t)
# VmHWM is this process's own peak; ru_maxrss survives exec and would report the parent's
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"load_s": load_s, "build_s": build_s, "embedded": rep.embedded + 0, "texts": len(texts),
                  "rates": rates, "maxrss_mb": hwm}))
"""


def section_build() -> None:
    res = {enc: run_child(BUILD, env={**child_env(), "QA_ENCODER": enc}) for enc in ("st", "onnx")}
    RESULTS["build"] = res
    st_best = max(res["st"]["rates"].values())
    rows = []
    for enc, b in res.items():
        best_bs, best = max(b["rates"].items(), key=lambda kv: kv[1])
        rows.append([enc, f"{b['load_s']:.2f} s", f"{b['build_s']:.2f} s",
                     " / ".join(f"{float(r):.0f}" for r in b["rates"].values()),
                     f"{best:.0f} (batch {best_bs})", f"{best / st_best:.2f}",
                     f"{res['st']['build_s'] / b['build_s']:.2f}", f"{b['maxrss_mb']:.0f} MB"])
    table("Index build per encoder (fresh process each; the real corpus: windows + sentences)",
          ["QA_ENCODER", "encoder load", "full build", "passages/s at batch 8 / 16 / 32 / 64", "best",
           "x st (encode)", "x st (build)", "peak RSS"], rows,
          note=f"{res['st']['texts']} texts; goal: >= 3x the sentence-transformers path; load avg {load()}")
