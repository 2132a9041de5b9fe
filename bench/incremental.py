"""Incremental builds: add one small document to a synthetic corpus of N documents.

    python bench/incremental.py                 # N = 1,000 and 10,000
    python bench/incremental.py --sizes 1000,5000,20000 --json out.json

For each N: a full build of N generated documents, then one more small document
added, three ways, all timed in this run:
- the diff, in a process that already holds the index (the app, a long ``qa`` session);
- the diff in a fresh process (``qa add``): the index is loaded first, then built;
- a forced full rebuild of the same N+1 documents: the reference the diff replaces.
Rows written and bytes written come from the new generation on disk. Vectors
come from the hashed-bigram test encoder (tests/fakes.py) so that N = 10,000
builds in minutes on 2 cores; the real encoder's cost for the one added
document is measured beside it and is the same at every N.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, table

sys.path.insert(0, str(ROOT / "tests"))

CITIES = ["宁波", "杭州", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水"]


def document(i: int) -> str:
    city = CITIES[i % len(CITIES)]
    paras = [f"# {city}市知识产权简报第{i}期"]
    paras += [f"{2015 + i % 9}年第{q}季度，{city}市新增发明专利授权{100 + 7 * q + i % 97}件，"
              f"商标注册{300 + q * 13 + i % 89}件，专利质押融资{q + i % 7}.{i % 10}亿元，"
              f"同比增长{q + i % 11}%。" for q in range(1, 5)]
    return "\n\n".join(paras) + "\n"


def generation_bytes(gen_dir: Path, new_only: bool) -> int:
    """Bytes in the generation; with ``new_only``, files not hard-linked from an older one."""
    return sum(p.stat().st_size for p in gen_dir.rglob("*")
               if p.is_file() and (not new_only or p.stat().st_nlink == 1))


def run_size(n: int, work: Path) -> dict:
    from fakes import HashEncoder

    from qa.pipeline import Engine
    from qa.settings import Settings

    corpus_dir, index_dir = work / "corpus", work / "index"
    corpus_dir.mkdir(parents=True)
    for i in range(n):
        (corpus_dir / f"brief-{i:06d}.md").write_text(document(i), encoding="utf-8")
    settings = Settings.from_env(corpus_dir=corpus_dir, index_dir=index_dir)
    engine = Engine(settings, encoder=HashEncoder())
    t0 = time.perf_counter()
    first = engine.build(progress=False)
    full_s = time.perf_counter() - t0
    engine.index()  # held, as the app holds it

    out = {"n_docs": n, "chunks": first.chunks, "first_build_s": full_s}
    for step, extra in (("warm", n), ("cold", n + 1)):
        (corpus_dir / f"added-{extra}.md").write_text(document(10**6 + extra), encoding="utf-8")
        eng = engine if step == "warm" else Engine(settings, encoder=HashEncoder())
        t0 = time.perf_counter()
        report = eng.build(progress=False)
        out[f"{step}_add_s"] = time.perf_counter() - t0
        gen = index_dir / report.generation
        out[f"{step}_rows_written"] = report.rows_written
        out[f"{step}_bytes_written"] = generation_bytes(gen, new_only=True)
        out[f"{step}_embedded"] = report.embedded
        out["generation_bytes"] = generation_bytes(gen, new_only=False)
        out["segments"] = len(report_segments(gen))
    t0 = time.perf_counter()
    engine.build(force=True, progress=False)
    out["rebuild_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    Engine(settings, encoder=HashEncoder()).index()
    out["load_s"] = time.perf_counter() - t0
    return out


def report_segments(gen: Path) -> list[str]:
    return [p.name for p in gen.glob("seg-*")]


def real_encoder_cost() -> float:
    """Seconds the real (ONNX) encoder takes for the added document's chunks and sentences."""
    from qa import chunking, corpus
    from qa.embedding import make_encoder
    from qa.settings import Settings

    s = Settings.from_env()
    enc = make_encoder(s.encoder, s.model_dir, threads=s.encoder_threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "added.md"
        path.write_text(document(10**6), encoding="utf-8")
        doc = corpus.load_document(path)
    texts = [c.text for c in chunking.chunk_document(doc, s.chunk_size, s.chunk_overlap)]
    texts += [doc.text[sp.start:sp.end] for sp in chunking.sentence_spans(doc, s.chunk_size)]
    enc.encode_passages(texts[:1])  # load the session
    t0 = time.perf_counter()
    enc.encode_passages(texts)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"qa-incr-{n}-"))
        try:
            results.append(run_size(n, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    enc_s = real_encoder_cost()
    rows = [[r["n_docs"], r["chunks"], f"{r['warm_add_s']:.2f} s", r["warm_rows_written"],
             f"{r['warm_bytes_written'] / 1024:.0f} KiB", f"{r['cold_add_s']:.2f} s", r["cold_rows_written"],
             f"{r['rebuild_s']:.1f} s", f"{r['load_s']:.2f} s", f"{r['generation_bytes'] / 2**20:.1f} MiB",
             r["segments"]] for r in results]
    table("Add one small document to N documents (hashed-bigram vectors)",
          ["N docs", "chunks", "add, index held", "rows written", "new bytes", "add, fresh process",
           "rows written", "full rebuild (reference)", "index load", "generation", "segments"], rows,
          note=f"The real ONNX encoder embeds the added document (chunks + sentences) in {enc_s:.2f} s, "
               f"at any N; add it to the add columns for a real build.")
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": results, "real_encoder_s": enc_s}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
