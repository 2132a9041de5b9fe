"""Fit the span model (``qa/spans.py``): e5-small read jointly with the question, low-rank
deltas on its linear layers and a start/end head, fitted on the question pool.

    python bench/span_fit.py prepare [--dir .span]      # CPU, ~30 s: examples + base weights
    python bench/span_fit.py train [--dir .span]        # 6 fits: ~2.5 min on one H200,
                                                        # about an hour each on 2 CPU cores,
                                                        # ~25 min with --bf16 (CPUs with avx512_bf16;
                                                        # ignored on others)
                                                        # (--only all: the served one alone)
    python bench/span_fit.py install [--dir .span]      # the full fit -> qa/data/span_model.npz,
                                                        # the held-out ones -> eval/span_cv.npz

``train`` needs only torch, numpy and transformers, so it runs on a machine without the
project installed (``.span`` holds the encoder in fp16 and only the embedding rows the
examples use: ~46 MB). It fits one model on the whole pool (the one that serves) and one
per held-out fold; ``qa eval --cv`` reads every question with the one that never saw it.
``--pairs`` adds one per pair of held-out folds, for strictly nested cross-validation
(the answer model of outer fold f would then learn from span scores of models that never
saw f either; the shipped figures use the single-fold ones, see eval/HISTORY.md).

Examples: each pool question with its top 3 passages (and, when none holds the answer,
the first of the top 10 that does); the label is the gold answer's tokens, or the first
token for a passage without it.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")
RANK, ALPHA = 8, 16
EPOCHS, BATCH, LR = 4, 32, 7e-4
# Passages without the answer are two thirds of the examples; at full weight every fit sat in
# "always no answer" (loss ~2.0, held-out span F1 .08-.40) and at lr 2e-3 it diverged.
NULL_WEIGHT = 0.25
MAX_SPAN = 40  # tokens, when the diagnostics pick a span on their own


# ---- prepare (CPU, with the project installed) -----------------------------------------

def _squashed(text: str) -> tuple[str, list[int]]:
    keep = [i for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(text[i] for i in keep), keep


def locate(passage: str, golds: list[str], evidence: list[str]) -> tuple[int, int] | None:
    """Char range of a gold answer in the passage, preferring one inside the evidence."""
    from qa.evaluation import squash
    flat, keep = _squashed(passage)
    inside = []
    for e in evidence:
        i = flat.find(squash(e))
        if i >= 0:
            inside.append((i, i + len(squash(e))))
    best = None
    for g in golds:
        sg = squash(g)
        if not sg:
            continue
        i = flat.find(sg)
        while i >= 0:
            hit = (i, i + len(sg))
            if any(lo <= hit[0] and hit[1] <= hi for lo, hi in inside):
                return keep[hit[0]], keep[hit[1] - 1] + 1
            best = best or hit
            i = flat.find(sg, i + 1)
    return (keep[best[0]], keep[best[1] - 1] + 1) if best else None


def prepare(out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from safetensors.numpy import load_file
    from qa.cv import eval_engine, folds
    from qa.evaluation import squash
    from qa.pool import load_pool
    from qa.settings import Settings
    from qa.spans import MAX_LEN, encode, tokenizer

    rows = load_pool()
    fold_of = folds(rows)
    engine = eval_engine()
    engine.warm_up()
    searcher = engine.searcher()
    settings = Settings.from_env()
    tok = tokenizer(settings.model_dir)
    examples = []
    for qi, row in enumerate(rows):
        ins = engine.inspect(row["question"], k=10)
        golds = [g for g in [row.get("answer")] + list(row.get("alt_answers") or []) if g]
        evidence = [e for e in [row.get("evidence")] + list(row.get("alt_evidence") or []) if e]
        chosen = list(ins.passages[:3])
        if golds and not any(locate(searcher.texts[p.source][p.start:p.end], golds, evidence) for p in chosen):
            extra = [p for p in ins.passages[3:] if locate(searcher.texts[p.source][p.start:p.end], golds, evidence)]
            chosen += extra[:1]
        for p in chosen:
            text = searcher.texts[p.source][p.start:p.end]
            hit = locate(text, golds, evidence) if golds else None
            ids, offsets, first = encode(tok, ins.question.asked, text)
            s = e = 0
            if hit:
                toks = [t for t in range(first, len(ids)) if offsets[t][1] > hit[0] and offsets[t][0] < hit[1]]
                if not toks:
                    continue  # answer cut off by truncation: no label to learn from
                s, e = toks[0], toks[-1]
            examples.append({"q": qi, "fold": fold_of[row["doc"]], "ids": ids, "offsets": offsets,
                             "first": first, "start": s, "end": e, "text": text,
                             "golds": [squash(g) for g in golds]})
    vocab = sorted({i for ex in examples for i in ex["ids"]})
    remap = {v: i for i, v in enumerate(vocab)}
    n = len(examples)
    ids = np.full((n, MAX_LEN), 1, np.int32)  # 1 = <pad>
    off = np.zeros((n, MAX_LEN, 2), np.int32)
    for j, ex in enumerate(examples):
        ids[j, :len(ex["ids"])] = [remap[i] for i in ex["ids"]]
        off[j, :len(ex["offsets"])] = ex["offsets"]
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "data.npz", ids=ids, offsets=off,
                        length=np.array([len(ex["ids"]) for ex in examples], np.int32),
                        first=np.array([ex["first"] for ex in examples], np.int32),
                        start=np.array([ex["start"] for ex in examples], np.int32),
                        end=np.array([ex["end"] for ex in examples], np.int32),
                        q=np.array([ex["q"] for ex in examples], np.int32),
                        fold=np.array([ex["fold"] for ex in examples], np.int32),
                        pad=np.array([remap.get(1, 0)], np.int32))
    (out / "data.json").write_text(json.dumps({"texts": [ex["text"] for ex in examples],
                                               "golds": [ex["golds"] for ex in examples],
                                               "folds": fold_of, "questions": len(rows)},
                                              ensure_ascii=False), encoding="utf-8")
    # base weights for a machine without the model: the encoder, and the embedding rows in use
    w = load_file(str(settings.model_dir / "model.safetensors"))
    base = {k: v.astype(np.float16) for k, v in w.items() if "word_embeddings" not in k and "pooler" not in k}
    base["embeddings.word_embeddings.weight"] = w["embeddings.word_embeddings.weight"][vocab].astype(np.float16)
    np.savez(out / "base.npz", **base)
    (out / "config.json").write_text((settings.model_dir / "config.json").read_text())
    print(f"{n} examples from {len(rows)} questions ({sum(1 for ex in examples if ex['start'])} with an answer), "
          f"{len(vocab)} token types")


# ---- train (torch, numpy, transformers only) -----------------------------------------

def _model(d: Path, device):
    import torch
    from transformers import BertConfig, BertModel
    cfg = json.loads((d / "config.json").read_text())
    base = np.load(d / "base.npz")
    cfg["vocab_size"] = base["embeddings.word_embeddings.weight"].shape[0]
    cfg["pad_token_id"] = 0
    model = BertModel(BertConfig(**cfg), add_pooling_layer=False)
    state = {k: torch.tensor(base[k].astype(np.float32)) for k in base.files}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    return model.to(device)


class LoRA:
    """Low-rank deltas beside the frozen linear layers named in TARGETS."""

    def __init__(self, model, rank: int = RANK, alpha: int = ALPHA, seed: int = 0):
        import torch
        g = torch.Generator().manual_seed(seed)
        self.scale = alpha / rank
        self.params = {}
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Linear) and name.endswith(TARGETS) and "encoder" in name:
                a = (torch.randn(rank, mod.in_features, generator=g) / math.sqrt(mod.in_features)).to(mod.weight.device)
                b = torch.zeros(mod.out_features, rank, device=mod.weight.device)
                a.requires_grad_(), b.requires_grad_()
                self.params[name] = (a, b)
                mod.register_forward_hook(self._hook(a, b))

    def _hook(self, a, b):
        def hook(mod, inputs, output):
            return output + (inputs[0] @ a.t() @ b.t()) * self.scale
        return hook

    def tensors(self):
        return [t for ab in self.params.values() for t in ab]


def _logits(model, head, ids, length, first):
    import torch
    n, L = ids.shape
    pos = torch.arange(L, device=ids.device)[None, :]
    att = (pos < length[:, None]).long()
    h = model(input_ids=ids, attention_mask=att).last_hidden_state
    lg = head(h)  # (n, L, 2)
    allowed = (pos == 0) | ((pos >= first[:, None]) & (pos < length[:, None] - 1))
    lg = lg.masked_fill(~allowed[..., None], -1e4)
    return lg[..., 0], lg[..., 1]


def batches(idx: np.ndarray, length: np.ndarray, rng, size: int = BATCH, pool: int = 8) -> list[np.ndarray]:
    """One epoch's batches: shuffled, then sorted by length inside runs of ``pool`` batches, so a
    batch pads to lengths near its own (~20% less compute on CPU) and the batch order stays random."""
    order = rng.permutation(idx)
    out = []
    for i in range(0, len(order), size * pool):
        run = order[i:i + size * pool]
        run = run[np.argsort(length[run], kind="stable")]
        out += [run[j:j + size] for j in range(0, len(run), size)]
    return [out[k] for k in rng.permutation(len(out))]


def fit_one(d: Path, data: dict, keep: np.ndarray, device, seed: int = 0, log=functools.partial(print, flush=True),
            bf16: bool = False):
    import torch
    torch.manual_seed(seed)
    model = _model(d, device)
    for p in model.parameters():
        p.requires_grad_(False)
    lora = LoRA(model, seed=seed)
    head = torch.nn.Linear(model.config.hidden_size, 2).to(device)
    params = lora.tensors() + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
    idx = np.flatnonzero(keep)
    steps = EPOCHS * math.ceil(len(idx) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps))
    rng = np.random.default_rng(seed)
    T = {k: torch.tensor(v, device=device) for k, v in data.items() if k in ("ids", "length", "first", "start", "end")}
    model.train()
    for ep in range(EPOCHS):
        total = 0.0
        for chunk in batches(idx, data["length"], rng):
            b = torch.tensor(chunk, device=device)
            L = int(T["length"][b].max())
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                s, e = _logits(model, head, T["ids"][b, :L].long(), T["length"][b], T["first"][b])
            w = torch.where(T["start"][b] > 0, 1.0, NULL_WEIGHT)
            ce = (torch.nn.functional.cross_entropy(s.float(), T["start"][b].long(), reduction="none")
                  + torch.nn.functional.cross_entropy(e.float(), T["end"][b].long(), reduction="none")) / 2
            loss = (ce * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
        log(f"    epoch {ep + 1}: loss {total / len(idx):.3f}")
    model.eval()
    out = {f"{name}.A": a.detach().cpu().numpy().astype(np.float16) for name, (a, b) in lora.params.items()}
    out.update({f"{name}.B": b.detach().cpu().numpy().astype(np.float16) for name, (a, b) in lora.params.items()})
    out["scale"] = np.array(lora.scale, np.float32)
    out["head.weight"] = head.weight.detach().cpu().numpy().astype(np.float32)
    out["head.bias"] = head.bias.detach().cpu().numpy().astype(np.float32)
    return model, head, out


def _char_f1(p: str, g: str) -> float:
    # qa.evaluation.char_f1's arithmetic, here because ``train`` runs without the project
    from collections import Counter
    p, g = [c for c in p if c.isalnum()], [c for c in g if c.isalnum()]
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    pr, rc = common / len(p), common / len(g)
    return 2 * pr * rc / (pr + rc)


def diagnose(model, head, data: dict, side: dict, sel: np.ndarray, device, bf16: bool = False) -> dict:
    """On the selected examples' questions: F1 of the best span over each question's passages,
    and how often the null score wins on unanswerable questions."""
    import torch
    best: dict[int, tuple[float, str]] = {}
    null: dict[int, float] = {}
    idx = np.flatnonzero(sel)
    with torch.no_grad():
        for i in range(0, len(idx), 128):
            b = idx[i:i + 128]
            L = int(data["length"][b].max())
            t = lambda k: torch.tensor(data[k][b], device=device)  # noqa: E731
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                s, e = _logits(model, head, t("ids")[:, :L].long(), t("length"), t("first"))
            s, e = s.float().cpu().numpy(), e.float().cpu().numpy()
            for row, j in enumerate(b):
                n, f = data["length"][j], data["first"][j]
                ss, ee = s[row, :n], e[row, :n]
                sc = ss[f:n - 1, None] + ee[None, f:n - 1]
                sc = np.triu(sc) - np.triu(np.full_like(sc, 1e9), MAX_SPAN)
                sc[np.tril_indices_from(sc, -1)] = -1e9
                a, z = np.unravel_index(int(np.argmax(sc)), sc.shape)
                val = float(sc[a, z] - ss[0] - ee[0])
                off = data["offsets"][j]
                text = side["texts"][j][off[f + a][0]:off[f + z][1]]
                q = int(data["q"][j])
                if q not in best or val > best[q][0]:
                    best[q] = (val, text)
                null[q] = max(null.get(q, -1e9), val)
    f1, una = [], []
    for q, (val, text) in best.items():
        golds = side["golds"][int(np.flatnonzero(data["q"] == q)[0])]
        if golds:
            f1.append(max(_char_f1(text, g) for g in golds))
        else:
            una.append(null[q] < 0)
    return {"questions": len(best), "span F1": float(np.mean(f1)) if f1 else float("nan"),
            "null wins (unanswerable)": float(np.mean(una)) if una else float("nan")}


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (avx512_bf16 or AMX). Without it torch emulates
    bf16 autocast: on an AMD EPYC without avx512_bf16 a step took over 2 min against 7.7 s in fp32."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def train(d: Path, only: list[str] | None = None, bf16: bool = False) -> None:
    import torch
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # decided once: fit and diagnosis run the same precision
    if device.type == "cuda":
        bf16 = True
    elif bf16 and not cpu_has_bf16():
        print("--bf16 ignored: this CPU has no native bfloat16 (avx512_bf16/amx_bf16); fitting in fp32",
              flush=True)
        bf16 = False
    data = dict(np.load(d / "data.npz"))
    side = json.loads((d / "data.json").read_text(encoding="utf-8"))
    folds = sorted(set(data["fold"].tolist()))
    sets = [()] + [(f,) for f in folds]
    if "--pairs" in sys.argv:
        sets += list(itertools.combinations(folds, 2))
    report = json.loads((d / "report.json").read_text()) if only and (d / "report.json").exists() else {}
    for held in sets:
        key = "x" + "".join(map(str, held)) if held else "all"
        if only and key not in only:
            continue
        t0 = time.time()
        print(f"fit {key} on {device}", flush=True)
        keep = ~np.isin(data["fold"], held)
        model, head, out = fit_one(d, data, keep, device, bf16=bf16)
        np.savez(d / f"reader-{key}.npz", **out)
        report[key] = {"bf16": bf16,
                       "train": diagnose(model, head, data, side, keep, device, bf16),
                       "held": diagnose(model, head, data, side, ~keep, device, bf16) if held else None,
                       "seconds": round(time.time() - t0, 1)}
        print(json.dumps({key: report[key]}), flush=True)
        (d / "report.json").write_text(json.dumps(report, indent=1))  # after each fit: a stopped run keeps its finished ones
        del model, head


def install(d: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from qa.spans import CV_META, CV_PATH, MODEL_PATH, pack
    meta = json.loads((d / "report.json").read_text()) if (d / "report.json").exists() else {}
    cv = {p.stem.split("-", 1)[1]: dict(np.load(p)) for p in sorted(d.glob("reader-x*.npz"))}
    # ``train --only all`` or ``--only x0,…``: whichever side was not refitted stays as it is
    if (d / "reader-all.npz").exists():
        pack({"all": dict(np.load(d / "reader-all.npz"))}, MODEL_PATH, meta.get("all", {}))
        print(f"wrote {MODEL_PATH}")
    else:
        print(f"{MODEL_PATH} unchanged: no reader-all.npz in {d}")
    if not cv:
        print(f"{CV_PATH} unchanged: no cross-fitted readers in {d}")
        return
    CV_PATH.parent.mkdir(parents=True, exist_ok=True)
    pack(cv, CV_PATH, {k: v for k, v in meta.items() if k != "all"})
    side = json.loads((d / "data.json").read_text(encoding="utf-8"))
    CV_META.write_text(json.dumps({"folds": side["folds"], "fitted_on": f"question pool, {side['questions']} questions",
                                   "report": {k: v for k, v in meta.items() if k != "all"}},
                                  indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {CV_PATH} ({len(cv)} cross-fitted)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["prepare", "train", "install"])
    ap.add_argument("--dir", type=Path, default=ROOT / ".span")
    ap.add_argument("--only", default="", help="train: fit only these, comma-separated (all, x0 … x4)")
    ap.add_argument("--pairs", action="store_true", help="train: also one fit per pair of held-out folds")
    ap.add_argument("--bf16", action="store_true",
                    help="train: bfloat16 autocast on CPU too (always on CUDA); ~1.7x faster on CPUs with "
                         "avx512_bf16, ignored on CPUs without native bf16")
    a = ap.parse_args()
    if a.step == "train":
        train(a.dir, [k for k in a.only.split(",") if k] or None, bf16=a.bf16)
    else:
        {"prepare": prepare, "install": install}[a.step](a.dir)


if __name__ == "__main__":
    main()
