"""One onnxruntime session over the exported graph, with the converted tokenizer.

Texts are sorted by token count so a batch pads little; the graph returns pooled,
normalised vectors. Shared by the encoder and by the export's agreement check.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

MAX_TOKENS = 512


class OnnxSession:
    """One onnxruntime session and its tokenizer; thread-safe (``run`` is)."""

    def __init__(self, model: Path, tokenizer: Path, threads: int = 0, batch_size: int = 32):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)  # 0: onnxruntime's default, one per core
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.pad_id = _pad_id(Path(tokenizer).parent)
        self.batch_size = batch_size

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        out = np.zeros((len(texts), 0), np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress:
            starts = tqdm(starts, desc="embedding", unit="batch")
        for a in starts:
            rows = order[a:a + self.batch_size]
            width = max(len(encs[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.pad_id, np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for j, i in enumerate(rows):
                n = len(encs[i].ids)
                ids[j, :n] = encs[i].ids
                mask[j, :n] = 1
            vecs = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vecs.shape[1]), np.float32)
            out[rows] = vecs
        return out


def _pad_id(model_dir: Path) -> int:
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return int(cfg.get("pad_token_id", 1))
