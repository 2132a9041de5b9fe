"""Warm latency: retrieve() and ask() against the bare query encoders, interleaved."""
from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from pathlib import Path

from common import CachedEncoder, RESULTS, bench_settings, dev_questions, interleaved, load, ms, pct, table


def section_warm(rounds: int) -> None:
    from qa.embedding.st import SentenceTransformerEncoder
    from qa.pipeline import Engine

    qs = dev_questions()
    eng = Engine(bench_settings(query_cache=0))  # QA_ENCODER (onnx by default) serves the queries
    eng.warm_up()
    st = SentenceTransformerEncoder(eng.settings.model_dir)
    st.load()
    fns = {"torch encode": lambda q: st.encode_queries([q]),
           f"{eng.encoder.name} encode": lambda q: eng.encoder.encode_queries([q]),
           "retrieve": eng.retrieve}
    for q in qs[:5]:
        for f in fns.values():
            f(q)
        eng.ask(q)
    t = interleaved(fns, qs, rounds)
    asks = interleaved({"ask": eng.ask}, qs, rounds)["ask"]
    torch_p50 = pct(t["torch encode"], 50)
    ratio = pct(t["retrieve"], 50) / torch_p50
    RESULTS["warm"] = {name: {"p50": pct(v, 50), "p95": pct(v, 95)} for name, v in t.items()}
    RESULTS["warm"].update(ask={"p50": pct(asks, 50), "p95": pct(asks, 95)}, ratio_p50=ratio,
                           encoder=eng.encoder.name, chunks=len(eng.index().chunks),
                           paired_ratio_median=statistics.median(
                               r / e for r, e in zip(t["retrieve"], t["torch encode"])))
    rows = [[name, ms(pct(v, 50)), ms(pct(v, 95)), f"{pct(v, 50) / torch_p50:.2f}"] for name, v in t.items()]
    rows.append(["ask", ms(pct(asks, 50)), ms(pct(asks, 95)), f"{pct(asks, 50) / torch_p50:.2f}"])
    table(f"Warm latency, query cache off ({len(qs)} dev questions x {rounds} rounds, interleaved; "
          f"retrieve/ask use QA_ENCODER={eng.encoder.name})",
          ["call", "p50", "p95", "p50 / torch encode p50"], rows,
          note=f"goal: retrieve p50 / torch query-encode p50 <= 0.4 (got {ratio:.2f}); "
               f"index {RESULTS['warm']['chunks']} chunks; load avg {load()}")
    profile_search(eng, qs, rounds)


def profile_search(eng, qs: list[str], rounds: int) -> None:
    from qa.retrieve import clean_question

    searcher = eng.searcher()
    k = eng.settings.k
    cleaned = [clean_question(q, eng.settings.max_question_chars) for q in qs]
    real = searcher.encoder
    searcher.encoder = CachedEncoder(real, cleaned)
    try:
        rest = []
        for _ in range(max(rounds, 2)):
            for q in cleaned:
                t0 = time.perf_counter()
                searcher.search(q, k)
                rest.append(time.perf_counter() - t0)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(max(rounds, 2)):
            for q in cleaned:
                searcher.search(q, k)
        prof.disable()
    finally:
        searcher.encoder = real
    calls = max(rounds, 2) * len(cleaned)
    RESULTS["warm"]["search_without_encoder"] = {"p50": pct(rest, 50), "p95": pct(rest, 95)}
    stats = pstats.Stats(prof)
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, _) in stats.stats.items():
        where = Path(file).name if file != "~" else ""
        rows.append((tt, ct, nc, f"{where}:{fn}" if where else fn))
    total = sum(r[0] for r in rows)
    rows.sort(reverse=True)
    table(f"HybridSearcher.search without the encoder: p50 {ms(pct(rest, 50)).strip()}, "
          f"p95 {ms(pct(rest, 95)).strip()} per question; cProfile by own time (per question)",
          ["function", "own", "cumulative", "calls/q", "share of own"],
          [[name, ms(tt / calls), ms(ct / calls), f"{nc / calls:.1f}", f"{100 * tt / total:4.1f}%"]
           for tt, ct, nc, name in rows[:12]],
          note="(cProfile inflates Python-heavy code; the p50/p95 above are unprofiled)")
