"""Text to token ids exactly as the Rust crate does it (model/src/tokenize.rs).

ids = <s> + pieces("query: " + text) + </s>; over `max_tokens`, the first and the last
pieces are kept (head and tail), because a review often gives its verdict at the end.
"""

from __future__ import annotations

from tokenizers import Tokenizer

PREFIX = "query: "
BOS, PAD, EOS = 0, 1, 2


def cut(pieces: list[int], max_tokens: int) -> tuple[list[int], bool]:
    room = max_tokens - 2
    if len(pieces) <= room:
        return pieces, False
    head = (room + 1) // 2
    return pieces[:head] + pieces[len(pieces) - (room - head) :], True


def encode(tok: Tokenizer, texts: list[str], max_tokens: int) -> list[list[int]]:
    out = []
    for enc in tok.encode_batch([PREFIX + t for t in texts], add_special_tokens=False):
        pieces, _ = cut(enc.ids, max_tokens)
        out.append([BOS, *pieces, EOS])
    return out
