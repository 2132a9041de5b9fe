"""Evaluation: recall@k / MRR@10 over gold questions, per language and type.

A retrieved passage is a hit when, whitespace removed, it contains the
question's ``evidence`` or any ``alt_evidence``. Unanswerable rows (no
evidence) are left out of recall and reported under abstention instead.
"""
from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .ingest.normalize import fold

KS = (1, 3, 5, 10)
_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    # added documents are stored folded (qa.ingest.normalize) while evidence quotes the raw
    # file (a third-party span): fold both sides, or ２０２３ in the evidence never matches 2023
    return _WS.sub("", fold(text))


def load_gold(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
            if "question" not in row:
                raise ValueError(f"{path}:{n}: missing 'question'")
            rows.append(row)
    return rows


def evidence_of(row: dict) -> list[str]:
    return [squash(e) for e in [row.get("evidence", "")] + list(row.get("alt_evidence") or []) if e]


def first_hit(passages: list[str], evidence: list[str]) -> int | None:
    """1-based rank of the first passage holding any evidence, else None."""
    for rank, text in enumerate(passages, 1):
        flat = squash(text)
        if any(e in flat for e in evidence):
            return rank
    return None


def char_f1(pred: str, gold: str) -> float:
    """CMRC 2018 style character F1 (whitespace and punctuation ignored)."""
    p, g = _chars(pred), _chars(gold)
    if not p or not g:
        return float(p == g)
    common = 0
    counts = defaultdict(int)
    for ch in g:
        counts[ch] += 1
    for ch in p:
        if counts[ch] > 0:
            common += 1
            counts[ch] -= 1
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _chars(text: str) -> list[str]:
    return list(_PUNCT.sub("", text or ""))


@dataclass
class Tally:
    n: int = 0
    hits: dict = field(default_factory=lambda: {k: 0 for k in KS})
    rr: float = 0.0

    def add(self, rank: int | None) -> None:
        self.n += 1
        for k in KS:
            self.hits[k] += rank is not None and rank <= k
        if rank is not None and rank <= 10:
            self.rr += 1.0 / rank

    def row(self) -> dict:
        out = {f"R@{k}": round(self.hits[k] / self.n, 3) if self.n else None for k in KS}
        out["MRR@10"] = round(self.rr / self.n, 3) if self.n else None
        out["n"] = self.n
        return out


def evaluate(engine, rows: list[dict], k: int = 10) -> dict:
    """Run every gold question through ``engine.ask`` and tally the results."""
    overall, by_lang, by_type = Tally(), defaultdict(Tally), defaultdict(Tally)
    f1s, ems, latencies, misses, shown = [], [], [], [], []
    f1_by = defaultdict(list)  # answer F1 per language, and per answer kind where rows give one
    abstain_ok = abstain_n = false_abstain = answerable = unanswerable_shown = 0
    for row in rows:
        t0 = time.perf_counter()
        answer = engine.ask(row["question"], k=k)
        latencies.append((time.perf_counter() - t0) * 1000)
        evidence = evidence_of(row)
        found = answer.status != "not_found"
        if not evidence:  # unanswerable
            abstain_n += 1
            abstain_ok += not found
            unanswerable_shown += answer.status == "answer"  # shown as the answer: a wrong one
            if found:
                misses.append({"id": row.get("id"), "question": row["question"], "why": "answered",
                               "got": answer.span})
            continue
        answerable += 1
        false_abstain += not found
        rank = first_hit([p.text for p in answer.passages], evidence)
        for t in (overall, by_lang[row.get("lang", "?")], by_type[row.get("type", "?")]):
            t.add(rank)
        golds = [g for g in [row.get("answer")] + list(row.get("alt_answers") or []) if g]
        pred = answer.span or ""  # the reader's best span, shown as the answer or not
        f1 = max((char_f1(pred, g) for g in golds), default=0.0)
        em = float(any(squash(pred) == squash(g) for g in golds))
        f1s.append(f1)
        ems.append(em)
        f1_by[f"lang={row.get('lang', '?')}"].append(f1)
        if row.get("kind"):
            f1_by[f"kind={row['kind']}"].append(f1)
        if answer.status == "answer":
            shown.append(f1 >= 0.8)
        if rank != 1 or f1 < 1.0:
            misses.append({"id": row.get("id"), "question": row["question"], "rank": rank,
                           "answer": row.get("answer"), "got": answer.span, "f1": round(f1, 2),
                           "top": answer.passages[0].text[:80] if answer.passages else None})
    lat = sorted(latencies)
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None  # noqa: E731
    return {
        "overall": overall.row(),
        "by_lang": {key: t.row() for key, t in sorted(by_lang.items())},
        "by_type": {key: t.row() for key, t in sorted(by_type.items())},
        "answer": {"EM": round(sum(ems) / len(ems), 3) if ems else None,
                   "F1": round(sum(f1s) / len(f1s), 3) if f1s else None,
                   "shown_precision": round(sum(shown) / len(shown), 3) if shown else None,
                   "shown_coverage": round(len(shown) / answerable, 3) if answerable else None,
                   # every span shown as the answer, those to unanswerable questions counted wrong
                   "shown_precision_all": (round(sum(shown) / (len(shown) + unanswerable_shown), 3)
                                           if shown or unanswerable_shown else None),
                   "unanswerable_shown": unanswerable_shown,
                   "F1_by": {key: {"F1": round(sum(v) / len(v), 3), "n": len(v)} for key, v in sorted(f1_by.items())}},
        "abstention": {"unanswerable": abstain_n, "abstained": abstain_ok,
                       "false_abstentions": false_abstain, "answerable": answerable,
                       "false_abstention_rate": round(false_abstain / answerable, 3) if answerable else None},
        "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "n": len(lat)},
        "misses": misses,
    }


def format_report(report: dict, show_misses: bool = False) -> str:
    head = f"{'':<16}{'n':>4}" + "".join(f"{'R@%d' % k:>8}" for k in KS) + f"{'MRR@10':>9}"
    lines = [head]

    def line(name, row):
        vals = "".join(f"{row[f'R@{k}']:>8.3f}" for k in KS)
        lines.append(f"{name:<16}{row['n']:>4}{vals}{row['MRR@10']:>9.3f}")

    if report["overall"]["n"]:
        line("overall", report["overall"])
    for group in ("by_lang", "by_type"):
        for name, row in report[group].items():
            line(f"  {group[3:]}={name}", row)
    a, ab, lat = report["answer"], report["abstention"], report["latency_ms"]
    if a["F1"] is not None:
        lines.append(f"answer          EM {a['EM']:.3f}   F1 {a['F1']:.3f}   shown as the answer: "
                     f"{a['shown_coverage'] or 0:.0%} of answerable, {a['shown_precision'] or 0:.3f} of them right")
        if ab["unanswerable"]:
            lines.append(f"                also shown for {a['unanswerable_shown']}/{ab['unanswerable']} unanswerable: "
                         f"{a['shown_precision_all'] or 0:.3f} of all shown right")
    if a.get("F1_by"):
        lines.append("answer F1 by    " + ", ".join(f"{key[key.index('=') + 1:]} {v['F1']:.2f} ({v['n']})"
                                                    for key, v in a["F1_by"].items()))
    lines.append(f"abstention      {ab['abstained']}/{ab['unanswerable']} unanswerable abstained, "
                 f"{ab['false_abstentions']}/{ab['answerable']} answerable wrongly abstained")
    lines.append(f"latency         p50 {lat['p50']} ms   p95 {lat['p95']} ms   ({lat['n']} questions)")
    if show_misses:
        lines.append(f"misses ({len(report['misses'])}):")
        for m in report["misses"]:
            lines.append("  " + json.dumps(m, ensure_ascii=False))
    return "\n".join(lines)
