"""Robustness to corpus growth: add a generated distractor corpus beside the seed articles
and count how many answers change.

    python bench/distractors.py                 # 1,000 documents, ~10k chunks (~10 min on 2 cores)
    python bench/distractors.py --docs 200      # quicker
    python bench/distractors.py --workdir /tmp/qa-drift   # keep corpus, indexes and passage
                                                          # vectors there: a rerun embeds nothing

Half the distractors are same-domain and number-dense (IP statistics of made-up cities,
batches and files), half generic text with numbers (weather, sport, food prices), so
both lexical and dense retrieval meet near-misses. Questions: dev (report only) and
the pool's questions on the seed articles. Both indexes live in a temp dir; the
project's corpus/ and index/ are not touched. Prints answers and top passages that
changed, and R@1 / F1 before and after.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import DEV, ROOT, table

CITIES = ["临江", "北岭", "南湖", "西山", "东港", "青石", "白沙", "云川", "金塘", "玉泉", "长桥", "海门"]
IP = ["专利授权", "发明专利申请", "商标注册", "版权登记", "知识产权质押融资", "地理标志", "PCT国际专利申请",
      "专利侵权纠纷案件", "知识产权保护中心预审", "高价值发明专利"]
UNITS = {"专利授权": "件", "发明专利申请": "件", "商标注册": "件", "版权登记": "件", "知识产权质押融资": "亿元",
         "地理标志": "个", "PCT国际专利申请": "件", "专利侵权纠纷案件": "起", "知识产权保护中心预审": "件",
         "高价值发明专利": "件"}
GENERIC = ["今日最高气温{a}摄氏度，最低气温{b}摄氏度，午后有阵雨。",
           "本赛季球队共打进{a}个进球，主场观众平均{b}万人次。",
           "市场上猪肉价格为每斤{a}元，蔬菜价格环比上涨{b}%。",
           "图书馆新增藏书{a}册，周末接待读者{b}人次。",
           "地铁线路全长{a}公里，共设车站{b}座，预计{c}年通车。"]


def distractor(rng: random.Random, i: int, same_domain: bool) -> str:
    city = rng.choice(CITIES)
    title = f"{city}市第{i}号{'知识产权' if same_domain else '生活'}简报"
    lines = [f"---\ntitle: {title}\ncity: {city}\n---\n# {title}\n"]
    for j in range(30):
        if same_domain:
            what = rng.choice(IP)
            lines.append(f"{city}市第{i}批第{j}号文件第{rng.randint(1, 9)}段：{2015 + rng.randint(0, 9)}年{what}"
                         f"{rng.randint(2, 99999)}{UNITS[what]}，同比增长{rng.randint(1, 60)}.{rng.randint(0, 9)}%，"
                         f"平均周期为{rng.randint(2, 30)}个月。")
        else:
            lines.append(rng.choice(GENERIC).format(a=rng.randint(1, 500), b=rng.randint(1, 90),
                                                    c=2020 + rng.randint(0, 9)) * 2)
    return "\n".join(lines) + "\n"


class CachedEncoder:
    """The project's encoder, with passage vectors kept in ``path`` by text hash: a rerun with
    --workdir (or after the index format changes) embeds nothing it embedded before."""

    def __init__(self, encoder, path: Path):
        import hashlib

        import numpy as np

        self.real, self.path, self._np, self._hash = encoder, path, np, hashlib.blake2b
        self.name, self.dim = encoder.name, encoder.dim
        self.table: dict[str, object] = {}
        if path.exists():
            with np.load(path) as data:
                self.table = dict(zip(data["keys"].tolist(), data["vectors"]))

    def key(self, text: str) -> str:
        return self._hash(text.encode("utf-8"), digest_size=16).hexdigest()

    def fingerprint(self) -> str:
        return self.real.fingerprint()

    def load(self) -> None:
        self.real.load()

    def encode_queries(self, texts):
        return self.real.encode_queries(texts)

    def encode_passages(self, texts, progress: bool = False):
        np = self._np
        keys = [self.key(t) for t in texts]
        todo = sorted({k: i for i, k in enumerate(keys) if k not in self.table}.values())
        if todo:
            fresh = self.real.encode_passages([texts[i] for i in todo], progress=progress)
            self.table.update((keys[i], v) for i, v in zip(todo, np.asarray(fresh, np.float32)))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, keys=np.array(list(self.table)), vectors=np.stack(list(self.table.values())))
        return np.stack([self.table[k] for k in keys]).astype(np.float32) if keys else \
            np.zeros((0, self.dim), np.float32)


def snapshot(engine, rows: list[dict]) -> dict:
    out = {}
    for row in rows:
        a = engine.ask(row["question"], k=5)
        top = a.passages[0] if a.passages else None
        out[row["id"]] = {"status": a.status, "span": a.span,
                          "top": (top.source, top.start) if top else None}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--workdir", metavar="DIR",
                    help="keep the corpus and both indexes here and reuse them next time (no re-embedding)")
    args = ap.parse_args(argv)

    from qa.embedding import make_encoder
    from qa.evaluation import evaluate, load_gold
    from qa.pipeline import Engine
    from qa.pool import load_pool
    from qa.settings import Settings

    seeds = {p.name for p in (ROOT / "corpus").glob("*.md")}
    dev = load_gold(DEV)
    pool = [r for r in load_pool() if r["doc"] in seeds]
    sets = {"dev": dev, "pool (seed articles)": pool}
    tmp = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="qa-distractors-"))
    try:
        corpus = tmp / "corpus"
        base_corpus = tmp / "corpus-base"  # the seeds alone, so a kept workdir's base index stays seeds-only
        for d in (corpus, base_corpus):
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(ROOT / "corpus", d)
        settings = Settings.from_env()
        encoder = make_encoder(settings.encoder, settings.model_dir)
        if args.workdir:
            encoder = CachedEncoder(encoder, tmp / "passage-vectors.npz")
        base = Engine(Settings.from_env(corpus_dir=base_corpus, index_dir=tmp / "index-base"), encoder=encoder)
        base.build(progress=False)
        before = {name: (snapshot(base, rows), evaluate(base, rows, k=10)) for name, rows in sets.items()}
        rng = random.Random(0)
        for i in range(args.docs):
            (corpus / f"zz-distractor-{i:04d}.md").write_text(distractor(rng, i, i % 2 == 0), encoding="utf-8")
        grown = Engine(Settings.from_env(corpus_dir=corpus, index_dir=tmp / "index-grown"), encoder=encoder)
        t0 = time.perf_counter()
        report = grown.build(progress=True)
        build_s = time.perf_counter() - t0
        after = {name: (snapshot(grown, rows), evaluate(grown, rows, k=10)) for name, rows in sets.items()}
        # the same grown index searched exactly: what the switch to HNSW past 10k chunks costs
        from qa.store.ann import make_ann

        live = grown.index()
        ann_kind = live.manifest.get("ann")
        live.ann = make_ann(live.vectors, "flat")
        grown._cache.clear()
        exact = {name: (snapshot(grown, rows), evaluate(grown, rows, k=10)) for name, rows in sets.items()}
    finally:
        if not args.workdir:
            shutil.rmtree(tmp, ignore_errors=True)

    chunks = report.chunks if report else len(live.chunks)  # None: a kept workdir was already built
    rows, out = [], {"docs": args.docs, "chunks": chunks, "build_s": build_s, "ann": ann_kind, "sets": {}}
    for name, label, grown_run in [(n, f"{n}, {ann_kind}", after) for n in sets] + \
            [(n, f"{n}, exact search", exact) for n in sets]:
        (b, rb), (a, ra) = before[name], grown_run[name]
        spans = sum(b[q]["span"] != a[q]["span"] or b[q]["status"] != a[q]["status"] for q in b)
        best = sum(b[q]["span"] != a[q]["span"] for q in b)  # the reader's pick itself moved
        flips = spans - best  # same pick, shown on one side and held back on the other
        tops = sum(b[q]["top"] != a[q]["top"] for q in b)
        to_distractor = sum(1 for q in a if a[q]["top"] and a[q]["top"][0].startswith("zz-distractor"))
        n = len(b)
        r1b, r1a = rb["overall"]["R@1"], ra["overall"]["R@1"]
        out["sets"][label] = {"n": n, "answers_changed": spans, "best_span_changed": best,
                             "shown_flips": flips, "top_changed": tops,
                             "top_is_distractor": to_distractor, "R@1": [r1b, r1a],
                             "F1": [rb["answer"]["F1"], ra["answer"]["F1"]]}
        rows.append([label, n, f"{spans} ({100 * spans / n:.1f}%)", f"{best} / {flips}",
                     f"{tops} ({100 * tops / n:.1f}%)",
                     to_distractor, f"{r1b:.3f} -> {r1a:.3f}", f"{rb['answer']['F1']:.3f} -> {ra['answer']['F1']:.3f}"])
    table(f"Corpus growth: 3 seed articles + {args.docs:,} distractors ({chunks:,} chunks; "
          f"built in {build_s:.0f} s)",
          ["questions", "n", "answers changed", "pick moved / shown flip", "top passage changed", "top is a distractor", "R@1", "F1"], rows,
          note="goal: at most 2% of answers change, no R@1 loss above .02")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
