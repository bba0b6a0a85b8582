"""Writing Hugging Face model folders with gguf and numpy only (no torch): safetensors files and
tokenizer files made from a GGUF vocabulary. Used by scripts/gguf-to-hf and by
scripts/fixtures/tiny_models.py (setup runs both)."""
import json
import struct
from pathlib import Path

import numpy as np

BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
# Pre-tokenizers as the models' own tokenizer.json files spell them.
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def write_safetensors(path: Path, tensors: dict) -> int:
    header, offset = {}, 0
    for name, w in tensors.items():
        dtype = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16"}[w.dtype]
        header[name] = {"dtype": dtype, "shape": list(w.shape), "data_offsets": [offset, offset + w.nbytes]}
        offset += w.nbytes
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for w in tensors.values():
            f.write(np.ascontiguousarray(w).tobytes())
    return offset


def write_bpe_tokenizer(reader, out: Path, drop_padding: bool = False) -> None:
    """tokenizer.json from the GGUF's vocabulary. drop_padding: without the converter's trailing
    [PADn] rows (type UNUSED), as Qwen's own tokenizer.json is (151665 tokens for 151936 rows)."""
    tokens = list(field(reader, "tokenizer.ggml.tokens"))
    types = list(field(reader, "tokenizer.ggml.token_type"))
    if drop_padding:
        while types and types[-1] == 5 and tokens[-1].startswith("[PAD"):
            tokens.pop()
            types.pop()
    added = [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False} for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 3]
    pre = field(reader, "tokenizer.ggml.pre")
    if pre == "smollm":
        pre_tok = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, BYTE_LEVEL]}
    elif pre == "qwen2":
        pre_tok = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            dict(BYTE_LEVEL, use_regex=False)]}
    else:
        pre_tok = BYTE_LEVEL
    tokenizer = {"version": "1.0", "added_tokens": added, "normalizer": None, "pre_tokenizer": pre_tok,
                 # The decoder's fields as the models' own files spell them: `tokenizers` >= 0.20
                 # rejects a ByteLevel decoder without them (and so does AutoTokenizer).
                 "decoder": dict(BYTE_LEVEL, add_prefix_space=True),
                 "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(tokens)},
                           "merges": list(field(reader, "tokenizer.ggml.merges"))}}
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    write_tokenizer_config(reader, out, tokens)


def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
    return _varint(num << 3 | wire) + payload


def write_spm_tokenizer(reader, out: Path) -> None:
    """tokenizer.model: a sentencepiece ModelProto (BPE) from the GGUF's pieces, scores and types."""
    tokens = list(field(reader, "tokenizer.ggml.tokens"))
    scores = list(field(reader, "tokenizer.ggml.scores"))
    types = list(field(reader, "tokenizer.ggml.token_type"))
    unk = field(reader, "tokenizer.ggml.unknown_token_id", 0)
    model = bytearray()
    for i, (t, s, ty) in enumerate(zip(tokens, scores, types)):
        if ty == 4 and t and not t.strip(" "):
            t = "\u2581" * len(t)  # whitespace pieces as sentencepiece sees them
        if i == unk:
            ty = 2
        piece = _field(1, 2, _varint(len(t.encode())) + t.encode()) + _field(2, 5, struct.pack("<f", s)) + \
            _field(3, 0, _varint(ty))
        model += _field(1, 2, _varint(len(piece)) + piece)
    trainer = _field(3, 0, _varint(2)) + _field(4, 0, _varint(len(tokens))) + _field(35, 0, _varint(1)) + \
        _field(40, 0, _varint(unk)) + _field(41, 0, _varint(field(reader, "tokenizer.ggml.bos_token_id", 1))) + \
        _field(42, 0, _varint(field(reader, "tokenizer.ggml.eos_token_id", 2))) + \
        _field(43, 0, _varint(field(reader, "tokenizer.ggml.padding_token_id", -1)))
    model += _field(2, 2, _varint(len(trainer)) + trainer)
    normalizer = _field(1, 2, _varint(8) + b"identity") + _field(3, 0, _varint(0)) + \
        _field(4, 0, _varint(0)) + _field(5, 0, _varint(1))
    model += _field(3, 2, _varint(len(normalizer)) + normalizer)
    (out / "tokenizer.model").write_bytes(bytes(model))
    write_tokenizer_config(reader, out, tokens)


def write_tokenizer_config(reader, out: Path, tokens) -> None:
    bos, eos = field(reader, "tokenizer.ggml.bos_token_id"), field(reader, "tokenizer.ggml.eos_token_id")
    tc = {"bos_token": tokens[bos] if bos is not None else None, "eos_token": tokens[eos] if eos is not None else None,
          "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
          "chat_template": field(reader, "tokenizer.chat_template")}
    (out / "tokenizer_config.json").write_text(json.dumps(tc, indent=1))
    (out / "generation_config.json").write_text(json.dumps({"eos_token_id": eos}))
