"""Robustness to corpus growth: add a generated distractor corpus beside the seed articles
and count how many answers change.

    python bench/distractors.py                 # 1,000 documents, ~10k chunks (~10 min on 2 cores)
    python bench/distractors.py --docs 200      # quicker

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
    args = ap.parse_args(argv)

    from qa.evaluation import evaluate, load_gold
    from qa.pipeline import Engine
    from qa.pool import load_pool
    from qa.settings import Settings

    seeds = {p.name for p in (ROOT / "corpus").glob("*.md")}
    dev = load_gold(DEV)
    pool = [r for r in load_pool() if r["doc"] in seeds]
    sets = {"dev": dev, "pool (seed articles)": pool}
    tmp = Path(tempfile.mkdtemp(prefix="qa-distractors-"))
    try:
        corpus = tmp / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        base = Engine(Settings.from_env(corpus_dir=corpus, index_dir=tmp / "index-base"))
        base.build(progress=False)
        before = {name: (snapshot(base, rows), evaluate(base, rows, k=10)) for name, rows in sets.items()}
        rng = random.Random(0)
        for i in range(args.docs):
            (corpus / f"zz-distractor-{i:04d}.md").write_text(distractor(rng, i, i % 2 == 0), encoding="utf-8")
        grown = Engine(Settings.from_env(corpus_dir=corpus, index_dir=tmp / "index-grown"))
        t0 = time.perf_counter()
        report = grown.build(progress=True)
        build_s = time.perf_counter() - t0
        after = {name: (snapshot(grown, rows), evaluate(grown, rows, k=10)) for name, rows in sets.items()}
        # the same grown index searched exactly: what the switch to HNSW past 10k chunks costs
        from qa.index import make_ann

        live = grown.index()
        ann_kind = live.manifest.get("ann")
        live.ann = make_ann(live.vectors, "flat")
        grown._cache.clear()
        exact = {name: (snapshot(grown, rows), evaluate(grown, rows, k=10)) for name, rows in sets.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows, out = [], {"docs": args.docs, "chunks": report.chunks, "build_s": build_s, "ann": ann_kind, "sets": {}}
    for name, label, grown_run in [(n, f"{n}, {ann_kind}", after) for n in sets] + \
            [(n, f"{n}, exact search", exact) for n in sets]:
        (b, rb), (a, ra) = before[name], grown_run[name]
        spans = sum(b[q]["span"] != a[q]["span"] or b[q]["status"] != a[q]["status"] for q in b)
        tops = sum(b[q]["top"] != a[q]["top"] for q in b)
        to_distractor = sum(1 for q in a if a[q]["top"] and a[q]["top"][0].startswith("zz-distractor"))
        n = len(b)
        r1b, r1a = rb["overall"]["R@1"], ra["overall"]["R@1"]
        out["sets"][label] = {"n": n, "answers_changed": spans, "top_changed": tops,
                             "top_is_distractor": to_distractor, "R@1": [r1b, r1a],
                             "F1": [rb["answer"]["F1"], ra["answer"]["F1"]]}
        rows.append([label, n, f"{spans} ({100 * spans / n:.1f}%)", f"{tops} ({100 * tops / n:.1f}%)",
                     to_distractor, f"{r1b:.3f} -> {r1a:.3f}", f"{rb['answer']['F1']:.3f} -> {ra['answer']['F1']:.3f}"])
    table(f"Corpus growth: 3 seed articles + {args.docs:,} distractors ({report.chunks:,} chunks; "
          f"built in {build_s:.0f} s)",
          ["questions", "n", "answers changed", "top passage changed", "top is a distractor", "R@1", "F1"], rows,
          note="goal: at most 2% of answers change, no R@1 loss above .02")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
