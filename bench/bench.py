"""Speed benchmark: every figure of the speed issue side by side with its goal, in one run.

    python bench/bench.py                  # everything; ANN scaling at 10k, 100k and 1M (the 1M
                                           # builds take most of an hour on 2 cores)
    python bench/bench.py --quick          # minutes: fewer rounds, scaling at 10k and 50k
    python bench/bench.py --only cold,warm,build --json out.json
    python bench/bench.py --only scale --sizes 1000000 --reuse

A benchmark, not a test: it prints tables and asserts nothing. Timings are wall clock
on whatever else the machine is doing, so the load average is printed beside them;
ratios come from interleaved runs in one process, so background load hits both sides.
The load row (8 clients, different questions each, both encoders) is bench/load.py.

Sections (one module each; shared helpers in common.py)
  env      machine, versions, load
  setup    after pip, from an empty cache: conversion, ONNX export, first build, app start
  cold     fresh processes to the first answer per encoder, stage by stage; app start
  warm     retrieve / ask vs the bare query encoders (ONNX and torch), interleaved; profile
  lexical  the search without the encoder over the real chunks repeated to 2k / 20k
  build    passages/s per encoder and batch size; a whole build per encoder
  scale    synthetic e5-like vectors: flat / hnsw / ivf / ivf-hnsw / ivf-sq8 at each size
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

from common import CACHE, RESULTS, ensure_index, load, section_env, table


def summary() -> None:
    rows = []
    s = RESULTS.get("setup")
    if s:
        rows.append(["make run after pip (convert + export + first build + app start)",
                     f"{s['total_after_pip_s']:.1f} s", "<= 45 s", s["total_after_pip_s"] <= 45])
    c = RESULTS.get("cold")
    if c:
        rows.append(["cold start, qa ask process -> answer (onnx | st)",
                     f"{c['onnx']['median_s']:.2f} | {c['st']['median_s']:.2f} s", "<= 4 s",
                     c["onnx"]["median_s"] <= 4])
        rows.append(["app start -> serving (onnx | st)",
                     f"{c['onnx']['app_serving_s']:.2f} | {c['st']['app_serving_s']:.2f} s", "<= 6 s",
                     c["onnx"]["app_serving_s"] <= 6])
    w = RESULTS.get("warm")
    if w:
        rows.append(["warm retrieve p50 / torch query-encode p50",
                     f"{w['retrieve']['p50'] * 1e3:.1f} / {w['torch encode']['p50'] * 1e3:.1f} ms = "
                     f"{w['ratio_p50']:.2f}", "<= 0.4", w["ratio_p50"] <= 0.4])
    b = RESULTS.get("build")
    if b:
        st, ox = max(b["st"]["rates"].values()), max(b["onnx"]["rates"].values())
        rows.append(["index build, passages/s (onnx | st)", f"{ox:.0f} | {st:.0f} = {ox / st:.2f}x; whole build "
                     f"{b['onnx']['build_s']:.1f} | {b['st']['build_s']:.1f} s", ">= 3x", ox / st >= 3])
    by_n: dict = {}
    for r in RESULTS.get("scale", []):
        by_n.setdefault(r["n"], []).append(r)
    for n, rs in sorted(by_n.items()):
        flat = next((r for r in rs if r["kind"] == "flat"), None)
        good = [r for r in rs if r["kind"] != "flat" and r["recall10"] >= 0.95]
        if flat is None:
            continue
        if not good:
            rows.append([f"{n:,} vectors: ANN with R@10 >= .95", "none reached it", ">= 50x flat", False])
            continue
        best = min(good, key=lambda r: r["p50_ms"])
        speed = flat["p50_ms"] / best["p50_ms"]
        rows.append([f"{n:,} vectors: fastest ANN with R@10 >= .95",
                     f"{best['kind']} {best['setting']}: R@10 {best['recall10']:.3f}, p50 {best['p50_ms']:.2f} ms "
                     f"vs flat {flat['p50_ms']:.1f} ms = {speed:.0f}x, build {best['build_s']:.0f} s",
                     ">= 50x flat" if n >= 1_000_000 else "", speed >= 50 if n >= 1_000_000 else ""])
    rows.append(["8 API clients x 40 different questions", "bench/load.py (make load)", ">= 3x st req/s", ""])
    table("Summary vs goals", ["figure", "value", "goal", "met"],
          [[a, v, g, ("yes" if m else "NO") if isinstance(m, bool) else m] for a, v, g, m in rows],
          note=f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
               f"load avg {load()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds; scaling at 10k and 50k only")
    ap.add_argument("--only", default="env,setup,cold,warm,lexical,build,scale",
                    help="comma-separated sections: env,setup,cold,warm,lexical,build,scale")
    ap.add_argument("--sizes", help="comma-separated synthetic sizes (default 10000,100000,1000000)")
    ap.add_argument("--kinds", help="scale: only these ANN kinds (e.g. flat,ivf-hnsw)")
    ap.add_argument("--queries", type=int, default=None, help="held-out queries per size")
    ap.add_argument("--reuse", action="store_true",
                    help="keep built synthetic indexes in bench/.cache/ann and reuse them")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else \
        ([10_000, 50_000] if args.quick else [10_000, 100_000, 1_000_000])
    CACHE.mkdir(parents=True, exist_ok=True)
    section_env()
    if only & {"cold", "warm", "lexical", "build"}:
        ensure_index()
    if "setup" in only:
        from cold import section_setup
        section_setup()
    if "cold" in only:
        from cold import section_cold
        section_cold(runs=3 if args.quick else 5)
    if "warm" in only:
        from warm import section_warm
        section_warm(rounds=1 if args.quick else 3)
    if "lexical" in only:
        from lexical import section_lexical
        section_lexical([85, 2_000] if args.quick else [85, 2_000, 20_000])
    if "build" in only:
        from build import section_build
        section_build()
    if "scale" in only:
        from scale import section_scale
        section_scale(sizes, args.queries or (100 if args.quick else 200), args.reuse, args.quick,
                      set(args.kinds.split(",")) if args.kinds else None)
    summary()
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
