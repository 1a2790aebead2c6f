"""Prune the 250k-piece XLM-R vocabulary to the pieces the served languages use.

Kept: every piece that occurs when the corpora are tokenised, every single-character
piece of the Latin, Greek-free punctuation and emoji ranges, then the highest-scoring
Latin-script pieces of the unigram model until the budget is reached. Removed pieces
are still reachable through their smaller parts, so no text becomes unreadable.
"""

from __future__ import annotations

import collections
import json

from tokenizers import Tokenizer


def _latin_or_symbol(piece: str) -> bool:
    body = piece.replace("\u2581", "")
    if not body:
        return True
    for ch in body:
        cp = ord(ch)
        if cp < 0x250 or 0x1E00 <= cp < 0x1F00:  # Latin, Latin-1, Extended A/B and Additional
            continue
        if 0x2000 <= cp < 0x2BFF or 0x1F000 <= cp < 0x1FAFF or 0xFE00 <= cp < 0xFE10:
            continue  # punctuation, currency, arrows, dingbats, emoji, variation selectors
        return False
    return True


def choose(tokenizer_json: dict, corpus: list[str], budget: int) -> list[int]:
    tok = Tokenizer.from_str(json.dumps(tokenizer_json))
    counts: collections.Counter[int] = collections.Counter()
    for i in range(0, len(corpus), 4096):
        for enc in tok.encode_batch(corpus[i : i + 4096], add_special_tokens=False):
            counts.update(enc.ids)
    vocab = tokenizer_json["model"]["vocab"]
    keep = set(range(4)) | set(counts)  # <s> <pad> </s> <unk>
    keep |= {added["id"] for added in tokenizer_json.get("added_tokens", [])}
    keep |= {i for i, (p, _) in enumerate(vocab) if len(p.replace("\u2581", "")) <= 1 and _latin_or_symbol(p)}
    if len(keep) > budget:
        raise SystemExit(f"the corpora alone use {len(keep)} pieces, over the budget of {budget}")
    ranked = sorted(
        (i for i, (p, _) in enumerate(vocab) if i not in keep and _latin_or_symbol(p)),
        key=lambda i: -vocab[i][1],
    )
    keep.update(ranked[: budget - len(keep)])
    return sorted(keep)


def prune(tokenizer_json: dict, kept: list[int]) -> dict:
    out = json.loads(json.dumps(tokenizer_json))
    vocab = tokenizer_json["model"]["vocab"]
    out["model"]["vocab"] = [vocab[i] for i in kept]
    remap = {old: new for new, old in enumerate(kept)}
    out["model"]["unk_id"] = remap[tokenizer_json["model"]["unk_id"]]
    for added in out.get("added_tokens", []):
        added["id"] = remap[added["id"]]
    post = out.get("post_processor") or {}
    for special in post.get("special_tokens", {}).values():
        special["ids"] = [remap[i] for i in special["ids"]]
    out["truncation"] = None
    out["padding"] = None
    return out
