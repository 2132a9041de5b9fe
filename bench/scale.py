"""ANN scaling on synthetic e5-like vectors: build, size, load, latency and recall@10 vs exact."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from common import CACHE, RESULTS, load, pct, table

def synthetic(n: int, d: int = 384, seed: int = 0, per_cluster: int = 20, decay: float = 0.35,
              offset: float = 4.0, noise: float = 1.0, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors shaped like e5 passage embeddings, not uniform noise.

    A Gaussian mixture (clusters of ~``per_cluster`` chunks, like a document's
    worth) whose centres and spreads follow a power-law spectrum in random
    bases, plus a shared offset: e5 vectors all lean the same way. With the
    defaults, 85 of them look like the real corpus's 85 chunk vectors (median
    pairwise cosine ~0.89, nearest-neighbour ~0.95, participation ratio ~36);
    see calibration() below.
    """
    rng = np.random.default_rng(seed)
    n_clusters = max(8, n // per_cluster)
    mean = rng.standard_normal(d).astype(np.float32)
    mean /= np.linalg.norm(mean)
    scales = np.arange(1, d + 1) ** -decay
    scales /= np.sqrt((scales ** 2).sum())

    def basis():
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        return (scales[:, None] * q.T).astype(np.float32)

    centres = rng.standard_normal((n_clusters, d)).astype(np.float32) @ basis()
    spread = noise * basis()
    out = np.empty((n, d), np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        x = centres[rng.integers(0, n_clusters, m)]
        x += rng.standard_normal((m, d), dtype=np.float32) @ spread
        x += offset * mean
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:s + m] = x
    return out


def shape_stats(v: np.ndarray) -> dict:
    s = v @ v.T
    iu = np.triu_indices(len(v), 1)
    np.fill_diagonal(s, -1)
    c = v - v.mean(0)
    ev = np.linalg.eigvalsh(c.T @ c)
    # local intrinsic dimensionality (MLE over the 10 nearest neighbours, median over points)
    d = np.sqrt(np.maximum(2 - 2 * -np.sort(-s, axis=1)[:, :10], 1e-12))
    lid = -1 / np.mean(np.log(d / d[:, -1:]), axis=1)
    return {"pair_cos_p50": float(np.median(s[iu])), "nn_cos_p50": float(np.median(s.max(1))),
            "participation_ratio": float(ev.sum() ** 2 / (ev ** 2).sum()), "lid10": float(np.median(lid))}


def calibration() -> None:
    """Compare the synthetic vectors with the real corpus's (when the index exists)."""
    from qa.index import IndexStore

    idx = IndexStore(CACHE / "index").load()
    rows = []
    if idx is not None and len(idx.vectors) > 10:
        real = np.asarray(idx.vectors, dtype=np.float32)
        rows.append(["real corpus chunks", len(real), *(f"{x:.3f}" for x in shape_stats(real).values())])
        sent = idx.extras.get("sentence_vectors")
        if sent is not None and len(sent) > 10:
            sent = np.asarray(sent, dtype=np.float32)
            rows.append(["real sentence vectors", len(sent), *(f"{x:.3f}" for x in shape_stats(sent).values())])
        syn = synthetic(len(real), seed=3, per_cluster=4)
        rows.append(["synthetic, same count", len(syn), *(f"{x:.3f}" for x in shape_stats(syn).values())])
    syn = synthetic(100_000, seed=3)[:2000]
    rows.append(["synthetic 100k (2k sample)", 2000, *(f"{x:.3f}" for x in shape_stats(syn).values())])
    RESULTS["calibration"] = rows
    table("Synthetic data vs real e5 vectors", ["set", "n", "pairwise cos p50", "NN cos p50",
                                                "participation ratio", "LID (k=10)"], rows)


def _timed_search(index, queries: np.ndarray, k: int = 10, reps: int = 1) -> tuple[float, float, np.ndarray]:
    ts, ids = [], []
    for _ in range(reps):
        ids = []
        for v in queries:
            t0 = time.perf_counter()
            _, i = index.search(v[None, :], k)
            ts.append(time.perf_counter() - t0)
            ids.append(i[0])
    return pct(ts, 50), pct(ts, 95), np.array(ids)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


def _ann_cache_path(n: int, kind: str, params: dict) -> Path:
    from qa.store.ann import HNSW_EF_CONSTRUCTION, HNSW_M, ivf_params

    if kind == "hnsw":  # the factory's defaults are part of what was built
        params = {"M": HNSW_M, "efc": HNSW_EF_CONSTRUCTION, **params}
    elif kind.startswith("ivf"):
        params = dict(zip(("nlist", "nprobe"), ivf_params(n, params.get("nlist"), params.get("nprobe"))))
    tag = "-".join(f"{k}{v}" for k, v in sorted(params.items()) if v is not None)
    return CACHE / "ann" / f"synth{n}-{kind}{'-' + tag if tag else ''}.faiss"


def build_or_load(vectors: np.ndarray, kind: str, params: dict, reuse: bool):
    """make_ann(), or a copy built by an earlier run (same data, kind and params) when reuse is on."""
    import faiss

    from qa.store.ann import make_ann

    path = _ann_cache_path(len(vectors), kind, params)
    meta = path.with_suffix(".json")
    if reuse and path.is_file() and meta.is_file():
        t0 = time.perf_counter()
        index = faiss.read_index(str(path))
        info = json.loads(meta.read_text())
        info.update(load_s=time.perf_counter() - t0, reused=True)
        return index, info
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t0 = time.perf_counter()
    index = make_ann(vectors, kind, **params)
    build_s = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(path))
    size = path.stat().st_size
    t0 = time.perf_counter()
    index = faiss.read_index(str(path))  # search what was persisted
    info = {"build_s": build_s, "bytes": size, "load_s": time.perf_counter() - t0, "reused": False}
    meta.write_text(json.dumps(info))
    if not reuse:
        path.unlink()
        meta.unlink()
    return index, info


def section_scale(sizes: list[int], nq: int, reuse: bool, quick: bool, kinds: set[str] | None = None) -> None:
    import faiss

    from qa.store.ann import AUTO_FLAT_MAX, choose_ann, ivf_params, set_nprobe

    calibration()
    RESULTS["scale"] = []
    threads = os.cpu_count() or 1
    for n in sizes:
        t0 = time.perf_counter()
        data = synthetic(n + nq, seed=1)
        queries, base = data[:nq].copy(), data[nq:]
        del data
        gen_s = time.perf_counter() - t0
        faiss.omp_set_num_threads(threads)
        exact = faiss.IndexFlatIP(base.shape[1])
        exact.add(base)
        t0 = time.perf_counter()
        _, truth = exact.search(queries, 10)
        truth_s = time.perf_counter() - t0
        del exact
        chosen = choose_ann(n, "auto", AUTO_FLAT_MAX)
        efs = (16, 32, 64, 128) + ((256, 512) if n >= 500_000 else ())
        plan = [("flat", {}, [{}]),
                ("hnsw", {}, [{"efSearch": e} for e in efs])]
        # IVF over an HNSW quantizer: 4*sqrt(n) lists (4,000 at 1M) stay cheap to probe
        if n >= 100_000:
            nl_h, _ = ivf_params(n)
            plan.append(("ivf-hnsw", {}, [{"nprobe": p} for p in (32, 64, 128, 256, 512, 1024) if p <= nl_h]))
        nlist = 1024 if n >= 500_000 else None  # 4*sqrt(n) lists take too long to train on 2 cores
        nl, _ = ivf_params(n, nlist)
        probes = sorted({p for p in (8, 16, 32, 64, nl // 8, nl // 4) if 0 < p <= nl})
        plan.append(("ivf", {"nlist": nlist}, [{"nprobe": p} for p in probes]))
        plan.append(("ivf-sq8", {"nlist": nlist}, [{"nprobe": p} for p in probes if p >= nl // 16]))
        if n <= 100_000 and not quick:
            plan.append(("ivf-pq", {"nlist": nlist}, [{"nprobe": p} for p in probes if p >= nl // 16]))
        if kinds:
            plan = [p for p in plan if p[0] in kinds]
        rows = []
        for kind, params, sweeps in plan:
            index, info = build_or_load(base, kind, params, reuse)
            faiss.omp_set_num_threads(1)
            inner = faiss.downcast_index(index)
            default = (inner.hnsw.efSearch if kind == "hnsw" else
                       faiss.extract_index_ivf(index).nprobe if kind.startswith("ivf") else None)
            for sweep in sweeps:
                if "efSearch" in sweep:
                    inner.hnsw.efSearch = sweep["efSearch"]
                if "nprobe" in sweep:
                    set_nprobe(index, sweep["nprobe"])
                reps = 1 if (kind == "flat" and n >= 500_000) else 2
                qs = queries[:50] if kind == "flat" and n >= 500_000 else queries
                p50, p95, _ = _timed_search(index, qs, reps=reps)
                _, found = index.search(queries, 10)
                setting = ", ".join(f"{k}={v}" for k, v in sweep.items())
                is_default = (not sweep) or list(sweep.values())[0] == default
                row = {"n": n, "kind": kind, "setting": setting or "-", "default": is_default,
                       "chosen_by_auto": kind == chosen and is_default,
                       "build_s": info["build_s"], "bytes": info["bytes"], "load_s": info["load_s"],
                       "p50_ms": p50 * 1e3, "p95_ms": p95 * 1e3,
                       "recall10": recall_at(found, truth), "reused_build": info["reused"]}
                rows.append(row)
                RESULTS["scale"].append(row)
            del index, inner
        table(f"ANN scaling: n={n:,} x 384 (synthetic e5-like; {nq} held-out queries; build with "
              f"{threads} faiss threads, search 1 query at a time on 1 thread)",
              ["kind", "params", "build", "index size", "load", "search p50", "search p95", "recall@10", ""],
              [[r["kind"], r["setting"] + (" (default)" if r["default"] and r["setting"] != "-" else ""),
                f"{r['build_s']:.1f} s" + ("*" if r["reused_build"] else ""),
                f"{r['bytes'] / 2**20:.1f} MiB", f"{r['load_s']:.2f} s",
                f"{r['p50_ms']:.2f} ms", f"{r['p95_ms']:.2f} ms", f"{r['recall10']:.3f}",
                "<- auto" if r["chosen_by_auto"] else ""] for r in rows],
              note=f"data {gen_s:.1f} s, exact top-10 for {nq} queries {truth_s:.1f} s; "
                   f"* = build time from an earlier run (--reuse); load avg {load()}")
        del base

