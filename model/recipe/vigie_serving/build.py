"""Compile the served model (model/dist) from the trained one (model/trained).

    python -m vigie_serving.build --trained model/trained --umsab ../shared/data/umsab --out model/dist

Stage 1 (`vigie_recipe.build`) trains: it is slow, and cached by the fingerprint of what it
reads. This stage only rewrites the graph (`graph.py`) and calibrates it, in minutes:
1. reads the trained weights back from the trained graph;
2. runs its float version on training texts one at a time and keeps each MatMul input's
   per-channel range;
3. builds the int8 graph for each smoothing strength `alpha` tried and keeps the one whose
   probabilities stay closest to the float graph's on the calibration split (never on the
   evaluation split);
4. fits the temperature and the precision thresholds on the calibration split, as stage 1;
5. evaluates the held-out texts, checks that batch-mates change nothing, lists what ONNX
   Runtime's optimiser does to the graph, and writes model.json.

Skipped when model/dist already holds a model of the same inputs (the trained model, this
code, the options and the corpora); kept in `<cache>/models/<fingerprint>` for later clones.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np

PREFIX = "vigie-sentiment"
ALPHAS = (0.5, 0.65, 0.8, 0.9, 1.0)
CALIBRATION_TEXTS = 600
SELECTION_TEXTS = 1200
# ops ONNX Runtime's optimiser may leave fused or rewritten: counted in both graphs
_FUSED = ("MultiHeadAttention", "Attention", "SkipLayerNormalization", "LayerNormalization", "Gelu", "BiasGelu", "FastGelu", "MatMulIntegerToFloat", "QLinearMatMul", "FusedMatMul", "FusedGemm", "Gemm", "MatMul", "QuantizeLinear", "DequantizeLinear")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fingerprint(trained: str, umsab_root: str, args) -> str:
    from vigie_recipe import sources

    h = hashlib.sha256()
    card = json.load(open(os.path.join(trained, "model.json"), encoding="utf-8"))
    h.update(card["inputs_fingerprint"].encode())
    for name, digest in sorted(card["files"].items()):
        h.update(f"{name}:{digest}".encode())
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            h.update(name.encode())
            h.update(open(os.path.join(here, name), "rb").read())
    h.update(open(os.path.join(here, "..", "requirements.txt"), "rb").read())
    for src in sources.SOURCES:
        h.update(f"{src.spec}:{src.sha256}".encode())
    h.update(f"alphas={args.alphas};seed={args.seed}".encode())
    sources.hash_files(h, umsab_root, ".txt")
    return h.hexdigest()


def _ranges(sess, seqs: list[list[int]]):
    """Per-channel min and max of every exposed MatMul input, one text at a time."""
    from tqdm import tqdm

    from . import graph

    names = [o.name for o in sess.get_outputs()][2:]
    low: dict[str, np.ndarray] = {}
    high: dict[str, np.ndarray] = {}
    for s in tqdm(seqs, desc="activation ranges", unit="text", mininterval=2.0):
        ids = np.asarray([s], dtype=np.int64)
        for name, out in zip(names, sess.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})):
            rows = out.reshape(-1, out.shape[-1])
            lo, hi = rows.min(0), rows.max(0)
            low[name] = lo if name not in low else np.minimum(low[name], lo)
            high[name] = hi if name not in high else np.maximum(high[name], hi)
    return {n: graph.Range(low[n], high[n]) for n in names}


def optimised_ops(path: str) -> dict[str, int]:
    """Op counts of `path` after ONNX Runtime's graph optimiser (extended level: the last
    level whose result does not depend on this CPU)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = os.path.join(tmp, "optimised.onnx")
        ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        model = onnx.load(so.optimized_model_filepath, load_external_data=False)  # op counts only
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def fusion_report(source_path: str, served_path: str, trained_path: str) -> dict:
    """What the served graph is written with, what ONNX Runtime's optimiser changes in it, and
    what the same optimiser makes of the trained (stage 1) graph, for comparison."""
    import onnx

    written = dict(sorted(collections.Counter(n.op_type for n in onnx.load(source_path, load_external_data=False).graph.node).items()))
    after = optimised_ops(served_path)
    changed = {op: {"written": written.get(op, 0), "optimised": after.get(op, 0)} for op in sorted(set(written) | set(after)) if written.get(op, 0) != after.get(op, 0)}
    trained = optimised_ops(trained_path)
    return {
        "served_graph_ops": written,
        "served_after_optimiser": after,
        "changed_by_optimiser": changed,
        "trained_graph_after_optimiser": {op: n for op, n in trained.items() if op in _FUSED},
    }


def main(argv=None) -> int:
    from vigie_recipe import cache

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trained", required=True, help="the trained model folder stage 1 wrote (model.onnx, tokenizer.json, model.json, eval/)")
    ap.add_argument("--umsab", required=True)
    ap.add_argument("--out", default="model/dist")
    ap.add_argument("--cache-root", default=cache.default_root())
    ap.add_argument("--alphas", default=",".join(map(str, ALPHAS)), help="smoothing strengths tried, comma-separated (graph.quantize_layer)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)

    umsab_root = os.path.abspath(args.umsab)
    fp = fingerprint(args.trained, umsab_root, args)
    models = os.path.join(args.cache_root, "models")
    if not args.force and cache.reuse(args.out, models, fp, "served model", _log):
        return 0

    from vigie_recipe.timing import Phases, cpu

    phases = Phases()
    with phases("loading the tools"):
        import onnx
        from tokenizers import Tokenizer
        from vigie_recipe import corpora, encode, evaluate, sources, train
        from vigie_recipe.build import EVAL_CAPS, _capped

        from . import graph

    trained_card = json.load(open(os.path.join(args.trained, "model.json"), encoding="utf-8"))
    trained_path = os.path.join(args.trained, "model.onnx")
    max_tokens = trained_card["max_tokens"]
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".serving-", dir=args.out)
    _log(f"compiling {trained_card['version']} on {cpu()['name']} with {args.threads} threads (inputs fingerprint {fp[:12]})")

    with phases("1/6 reading the trained model and the corpora"):
        trained = graph.read_trained(onnx.load(trained_path))
        shutil.copyfile(os.path.join(args.trained, "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))
        tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
        examples = corpora.umsab(umsab_root) + corpora.reviews(sources.fetch(os.path.join(args.cache_root, "model-sources")))
        rng = random.Random(args.seed)
        calib_texts = rng.sample([e for e in examples if e.split == "train"], CALIBRATION_TEXTS)
        select_set = _capped(examples, ("calib",), {}, args.seed)
        select_set = random.Random(args.seed + 2).sample(select_set, min(SELECTION_TEXTS, len(select_set)))
        calib_gold = np.asarray([e.label for e in select_set])
        calib_seqs = encode.encode(tok, [e.text for e in calib_texts], max_tokens)
        select_seqs = encode.encode(tok, [e.text for e in select_set], max_tokens)

    with phases("2/6 activation ranges of the float graph"):
        float_path = os.path.join(work, "float.onnx")
        onnx.save(graph.build(trained, max_tokens, None), float_path)
        ranges = _ranges(evaluate.session(float_path, args.threads), calib_seqs)
        reference, _ = evaluate.run(evaluate.session(float_path, args.threads), select_seqs, desc="float graph (calibration split)")

    tried = []
    with phases("3/6 choosing the smoothing on the calibration split"):
        best = None
        for alpha in (float(a) for a in args.alphas.split(",")):
            path = os.path.join(work, f"int8-{alpha}.onnx")
            onnx.save(graph.build(trained, max_tokens, ranges, alpha), path)
            probs, _ = evaluate.run(evaluate.session(path, args.threads), select_seqs)
            point = {
                "alpha": alpha,
                "mean_probability_diff": round(float(np.abs(probs - reference).mean()), 5),
                "label_agreement": round(float((probs.argmax(1) == reference.argmax(1)).mean()), 4),
                "macro_f1": round(evaluate.metrics(calib_gold, probs)["macro_f1"], 4),
            }
            tried.append(point)
            _log(f"    alpha {alpha}: mean |p - float| {point['mean_probability_diff']:.4f}, same label {point['label_agreement']:.3f}")
            if best is None or point["mean_probability_diff"] < best[0]["mean_probability_diff"]:
                best = (point, path)
        alpha = best[0]["alpha"]
        _log(f"    kept alpha {alpha}")

    with phases("4/6 temperature and thresholds"):
        served = onnx.load(best[1])
        graph.set_temperature(served, 1.0)
        model_path = os.path.join(args.out, "model.onnx")
        graph.save(served, model_path)
        raw, _ = evaluate.run(evaluate.session(model_path, args.threads), select_seqs, desc="calibration split")
        temperature = train.fit_temperature(np.log(np.clip(raw, 1e-12, 1.0)), calib_gold)
        graph.set_temperature(served, temperature)
        graph.save(served, model_path)
        thresholds = evaluate.precision_thresholds(calib_gold, evaluate.rescale(raw, temperature))
        source_path = os.path.join(work, "served-source.onnx")
        onnx.save(served, source_path)

    with phases("5/6 evaluating"):
        sess = evaluate.session(model_path, args.threads)
        held = _capped(examples, ("val", "test"), EVAL_CAPS, args.seed)
        held_seqs = encode.encode(tok, [e.text for e in held], max_tokens)
        probs, emb = evaluate.run(sess, held_seqs, desc="held-out texts")
        gold = np.asarray([e.label for e in held])
        figures = {}
        for corpus, lang in sorted({(e.corpus, e.lang) for e in held}):
            sel = np.asarray([e.corpus == corpus and e.lang == lang for e in held])
            figures[f"{corpus}/{lang}"] = evaluate.metrics(gold[sel], probs[sel])
        umsab_sel = np.asarray([e.corpus == "umsab" for e in held])
        figures["umsab/all"] = evaluate.metrics(gold[umsab_sel], probs[umsab_sel])

        # The float graph of the same weights on French and English UMSAB: what int8 costs.
        float_model = onnx.load(float_path)
        graph.set_temperature(float_model, temperature)
        onnx.save(float_model, float_path)
        sess32 = evaluate.session(float_path, args.threads)
        float_figures = {}
        float_emb = {}
        for lang in ("fr", "en"):
            sel = np.asarray([e.corpus == "umsab" and e.lang == lang for e in held])
            p32, e32 = evaluate.run(sess32, [s for s, k in zip(held_seqs, sel) if k], desc=f"float32 reference ({lang})")
            float_figures[f"umsab/{lang}"] = evaluate.metrics(gold[sel], p32)
            float_emb[lang] = (emb[sel], e32)
        cosine = float(np.mean(np.concatenate([(a * b).sum(1) for a, b in float_emb.values()])))

        probe = random.Random(args.seed + 1).sample(range(len(held_seqs)), 600)
        probe_seqs = [held_seqs[i] for i in probe]
        one, _ = evaluate.run(sess, probe_seqs, batch=1, desc="batch invariance (batch 1)")
        mixed, _ = evaluate.run(sess, probe_seqs, batch=32, sort=False)
        flips = int((one.argmax(1) != mixed.argmax(1)).sum())
        invariance = {"texts": len(probe), "label_flips": flips, "max_probability_diff": float(np.abs(one - mixed).max())}
        _log(f"    batch invariance: {flips} labels differ, largest probability difference {invariance['max_probability_diff']:.2e}")
        if flips or invariance["max_probability_diff"] >= 1e-3:
            raise SystemExit(f"batch invariance broken: {flips} labels differ between batch 1 and 32, probabilities by up to {invariance['max_probability_diff']:.2e}")

    with phases("6/6 fusions, golden outputs and model.json"):
        fusions = fusion_report(source_path, model_path, trained_path)
        eval_dir = os.path.join(args.out, "eval")
        os.makedirs(eval_dir, exist_ok=True)
        for name in trained_card["eval_files"]:
            shutil.copyfile(os.path.join(args.trained, name), os.path.join(args.out, name))
        golden_texts = [g["text"] for g in trained_card["golden"]]
        golden_seqs = encode.encode(tok, golden_texts, max_tokens)
        gp, ge = evaluate.run(sess, golden_seqs, batch=1)
        golden = [
            {"text": t, "ids": s, "probabilities": [round(float(v), 6) for v in p], "embedding_head": [round(float(v), 6) for v in e[:8]]}
            for t, s, p, e in zip(golden_texts, golden_seqs, gp, ge)
        ]
        files = {f: sources.sha256_file(os.path.join(args.out, f)) for f in ("model.onnx", graph.WEIGHTS_FILE, "tokenizer.json")}
        # the graph file holds no weights: the version names both
        version = hashlib.sha256((files["model.onnx"] + files[graph.WEIGHTS_FILE]).encode()).hexdigest()
        card = dict(trained_card)
        card.update(
            {
                "version": f"{PREFIX}-{version[:12]}",
                "temperature": round(temperature, 6),
                "thresholds": thresholds,
                "files": files,
                "eval_files": {n: sources.sha256_file(os.path.join(args.out, n)) for n in trained_card["eval_files"]},
                "sizes_bytes": {f: os.path.getsize(os.path.join(args.out, f)) for f in files},
                "eval": figures,
                "eval_float32": float_figures,
                "batch_invariance": invariance,
                "golden": golden,
                "serving": {
                    "trained": {"version": trained_card["version"], "inputs_fingerprint": trained_card["inputs_fingerprint"], "eval": {k: trained_card["eval"][k] for k in ("umsab/fr", "umsab/en", "umsab/all") if k in trained_card["eval"]}},
                    "weights": f"int8 per output channel, {graph.WEIGHT_MAX.bit_length() + 1} bits",
                    "activations": "uint8 per input channel, fixed steps and zero points (calibrated one text at a time)",
                    "calibration_texts": CALIBRATION_TEXTS,
                    "alpha": alpha,
                    "alphas_tried": tried,
                    "selection_texts": len(select_set),
                    "embedding_cosine_to_float": round(cosine, 5),
                    "fusions": fusions,
                    "cpu": cpu(),
                    "phases_seconds": phases.seconds,
                    "seconds": phases.total(),
                },
                "inputs_fingerprint": fp,
            }
        )
        with open(os.path.join(args.out, "model.json"), "w", encoding="utf-8") as f:
            json.dump(card, f, ensure_ascii=False, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    kept_at = cache.store(models, args.out, fp)
    _log(f"done in {phases.total():.0f} s: {card['version']} from {trained_card['version']}, model.onnx and its weights {sum(card['sizes_bytes'][f] for f in ('model.onnx', graph.WEIGHTS_FILE)) / 1e6:.1f} MB; kept in {kept_at}")
    for key in ("umsab/fr", "umsab/en", "umsab/all", "amazon-fr/fr", "panglee-sentences/en", "rottentomatoes/en"):
        m, t = figures.get(key), trained_card["eval"].get(key)
        if m:
            was = f" (trained graph {t['macro_f1']:.3f})" if t else ""
            print(f"    {key:24} n={m['n']:5} acc {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f}{was} ECE {m['ece']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
