"""Vector stores side by side: FaissStore (in process) and MilvusStore on Milvus Lite.

Synthetic e5-like 384-d unit vectors (bench/scale.py's ``synthetic``) with generated
Chinese texts, at 10k and 100k rows, in one run: build throughput (rows/s, the
index build included), dense / filtered / BM25 / hybrid search p50 and p95 (one
query at a time), and dense recall@10 against exact search. Both stores use
HNSW with the same M / efConstruction / efSearch (qa.store.ann).

    .venv/bin/python bench/store.py [--sizes 10000 100000] [--queries 100] [--json]

Milvus Lite is pure Python over FAISS, in process; a Milvus server's latencies
differ (network hop, Knowhere's HNSW), so read the Milvus rows as what the tests
and a laptop see, not as a server's figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, load, pct, table
from scale import synthetic

from qa.store.faiss import FaissStore

CITIES = ["宁波", "杭州", "温州", "绍兴", "嘉兴", "湖州", "金华", "台州", "丽水", "舟山"]  # 10% each
WORDS = ("知识产权 专利 发明 实用新型 外观设计 商标 注册 版权 登记 地理标志 质押 融资 金额 授权 周期 审查 "
         "保护 中心 快速 预审 维权 援助 企业 高校 申请 数量 增长 同比 亿元 件 运营 转化 许可 "
         "侵权 纠纷 调解 行政 执法 海关 备案 数据 报告 年度 示范 城市 建设 服务 平台").split()


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(WORDS), (n, 24))
    return ["".join(WORDS[j] for j in row) + "。" for row in picks]


def metadata(n: int) -> list[dict]:
    body = texts(n, 1)
    return [{"doc": f"doc{i // 100:05d}.md", "city": CITIES[i % len(CITIES)], "year": 2019 + i % 6,
             "start": (i % 100) * 200, "end": (i % 100) * 200 + 180, "title": f"报告{i // 100}",
             "section": "概述", "text": body[i]} for i in range(n)]


def timed(fn, queries) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t0)
    return out


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def lite_drain(uri: str, collection: str) -> None:
    """Wait for Milvus Lite's background compaction and index build (it reports its indexes
    finished at once, so ``wait_indexed`` cannot tell): otherwise the first searches time
    brute force over unindexed segments, competing with the build for the CPUs. Private API,
    bench only."""
    from milvus_lite.server_manager import server_manager_instance

    _, db, _ = server_manager_instance._servers[os.path.abspath(uri)]
    db.get_collection(collection)._wait_for_bg()


def run_size(n: int, nq: int, workdir: Path) -> list[dict]:
    vecs = synthetic(n + nq, seed=n)
    vecs, queries = vecs[:n], vecs[n:]
    ids = np.arange(n, dtype=np.int64) + 1  # stable ids are arbitrary int64; these keep truth simple
    meta = metadata(n)
    qtexts = [" ".join(t) for t in np.random.default_rng(2).choice(WORDS, (nq, 3))]
    where = [{"city": CITIES[i % len(CITIES)]} for i in range(nq)]
    truth = np.argsort(-(queries @ vecs.T), axis=1)[:, :10] + 1  # exact top-10 ids
    out = []

    # FAISS: the same HNSW parameters as Milvus (qa.store.ann's defaults)
    t0 = time.perf_counter()
    fs = FaissStore(vecs.shape[1], "hnsw")
    fs.upsert(ids, vecs, meta)
    fs.seal()
    build = time.perf_counter() - t0
    found = [fs.search(q, 10)[0] for q in queries]
    row = {"backend": "faiss", "rows": n, "build_s": build, "rows_per_s": n / build,
           "recall10": recall(found, truth),
           "dense": timed(lambda q: fs.search(q, 10), queries),
           "filtered": timed(lambda i: fs.search(queries[i], 10, where[i]), range(nq))}
    out.append(row)
    fs = None  # free its vectors and graph before Milvus builds its own

    from qa.store.milvus import MilvusStore
    from milvus_lite.server_manager import server_manager_instance

    uri = str(workdir / f"bench-{n}.db")
    t0 = time.perf_counter()
    ms = MilvusStore(uri, dim=vecs.shape[1], batch_size=1000)
    ms.upsert(ids, vecs, meta)
    ms.flush()  # seals segments; Lite then compacts and builds their HNSW indexes in the background
    ms.wait_indexed()
    lite_drain(uri, ms.physical())
    build = time.perf_counter() - t0
    for q in queries[:5]:  # first searches load segment indexes
        ms.search(q, 10)
    found = [ms.search(q, 10)[0] for q in queries]
    row = {"backend": "milvus-lite", "rows": n, "build_s": build, "rows_per_s": n / build,
           "recall10": recall(found, truth),
           "dense": timed(lambda q: ms.search(q, 10), queries),
           "filtered": timed(lambda i: ms.search(queries[i], 10, where[i]), range(nq)),
           "text": timed(lambda t: ms.search_text(t, 10), qtexts),
           "hybrid": timed(lambda i: ms.hybrid(queries[i], qtexts[i], 10), range(nq))}
    out.append(row)
    ms.close()
    server_manager_instance.release_server(uri)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    print(f"# vector stores  {time.strftime('%Y-%m-%d %H:%M:%S')}  load {load()}")
    workdir = Path(tempfile.mkdtemp(prefix="qa-store-bench-"))
    rows = []
    try:
        for n in args.sizes:
            rows += run_size(n, args.queries, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def lat(r, key):
        xs = r.get(key)
        return f"{pct(xs, 50) * 1e3:.1f} / {pct(xs, 95) * 1e3:.1f}" if xs else "-"

    table("build and search (one query at a time; p50 / p95 in ms)",
          ["backend", "rows", "build rows/s", "recall@10", "dense", "filtered (city, 10%)", "BM25", "hybrid"],
          [[r["backend"], f"{r['rows']:,}", f"{r['rows_per_s']:,.0f}", f"{r['recall10']:.3f}",
            lat(r, "dense"), lat(r, "filtered"), lat(r, "text"), lat(r, "hybrid")] for r in rows],
          note="build: upsert + index (FAISS seal; Milvus flush). FAISS filters score the matching rows "
               "exactly; hybrid is dense + BM25 fused by RRF on the server.")
    RESULTS["store"] = [{k: (v if not isinstance(v, list) else {"p50": pct(v, 50), "p95": pct(v, 95)})
                         for k, v in r.items()} for r in rows]
    if args.json:
        print(json.dumps(RESULTS["store"], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
