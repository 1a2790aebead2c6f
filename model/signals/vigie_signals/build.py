"""Builds the risk-signal and intent heads of a built model.

    python -m vigie_signals.build --model model/dist --data model/signals/data

1. embeds every labelled comment with the model's own ONNX graph and tokenizer, exactly
   as the Rust crate does (the embeddings the heads will read at run time);
2. chooses the L2 strength of each head by 5-fold cross-validation on `train/`;
3. fits Platt scaling per signal and a temperature for the intent on out-of-fold logits,
   and each signal's threshold (most recall at a per-signal out-of-fold precision, the
   target chosen for the most urgent recall at urgent precision >= 0.8);
4. fits the heads on all of `train/`, scores `heldout/` (never used for any choice) and
   writes `<model>/signals/`: heads.json (weights, calibration, thresholds, figures,
   golden outputs the Rust crate checks), examples.f32 and examples.jsonl (the training
   comments' embeddings and labels, for the nearest labelled examples behind a signal).

Skipped when `<model>/signals` is up to date with its inputs (the model, the data and this
code); a build is cached in `$XDG_CACHE_HOME/vigie/signals/<fingerprint>` for later clones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from . import data as dataset
from . import heads as H
from .labels import INTENTS, LANGS, SIGNALS, URGENT_SIGNALS

L2_GRID = (1e-3, 3e-3, 1e-2, 3e-2)
# Per-signal precision targets tried for the thresholds; the one kept gives the most
# out-of-fold urgent recall while urgent precision (any urgent signal confident) stays at
# URGENT_PRECISION or above.
MIN_PRECISIONS = (0.6, 0.7, 0.8, 0.9)
URGENT_PRECISION = 0.8
FOLDS = 5
NEIGHBOURS_FILE = "examples.f32"
EXAMPLES_FILE = "examples.jsonl"


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(model_dir: str, data_dir: str) -> str:
    h = hashlib.sha256()
    for name in ("model.onnx", "tokenizer.json", "model.json"):
        h.update(name.encode())
        h.update(bytes.fromhex(sha256_file(os.path.join(model_dir, name))))
    for split in ("train", "heldout"):
        folder = os.path.join(data_dir, split)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".jsonl"):
                h.update(f"{split}/{name}".encode())
                h.update(bytes.fromhex(sha256_file(os.path.join(folder, name))))
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            h.update(name.encode())
            h.update(bytes.fromhex(sha256_file(os.path.join(here, name))))
    for key in ("L2_GRID", "MIN_PRECISIONS", "URGENT_PRECISION", "FOLDS"):
        h.update(f"{key}={globals()[key]}".encode())
    return h.hexdigest()


def _complete(folder: str, fp: str) -> bool:
    path = os.path.join(folder, "heads.json")
    if not os.path.exists(path):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
    except ValueError:
        return False
    files = card.get("files", {})
    return card.get("inputs_fingerprint") == fp and bool(files) and all(
        os.path.exists(os.path.join(folder, n)) and sha256_file(os.path.join(folder, n)) == s for n, s in files.items()
    )


def _copy(src: str, dst: str) -> None:
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "heads.json"), encoding="utf-8") as f:
        names = [*json.load(f)["files"], "heads.json"]
    for name in names:  # heads.json last: a half-copied folder is never complete
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name + ".part"))
        os.replace(os.path.join(dst, name + ".part"), os.path.join(dst, name))


def embed(model_dir: str, texts: list[str], threads: int) -> np.ndarray:
    from tokenizers import Tokenizer
    from vigie_recipe import encode, evaluate

    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        card = json.load(f)
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    seqs = encode.encode(tok, texts, card["max_tokens"])
    sess = evaluate.session(os.path.join(model_dir, "model.onnx"), threads)
    _probs, emb = evaluate.run(sess, seqs, batch=32, desc="embedding the labelled comments")
    return emb.astype(np.float32)


def _labels(rows: list[dataset.Example]) -> tuple[np.ndarray, np.ndarray]:
    sig = np.array([[s in r.signals for s in SIGNALS] for r in rows], dtype=np.float32)
    intent = np.array([INTENTS.index(r.intent) for r in rows], dtype=np.int64)
    return sig, intent


def _average_precision(probs: np.ndarray, gold: np.ndarray) -> float:
    order = np.argsort(-probs)
    g = gold[order].astype(bool)
    if not g.any():
        return 0.0
    hits = np.cumsum(g)
    return float((hits[g] / (np.flatnonzero(g) + 1)).mean())


def _report(rows, sig_p, intent_p, thresholds) -> dict:
    """Figures per language and overall: each signal's precision/recall at its threshold,
    urgent (any urgent signal fires) precision/recall, intent accuracy."""
    gold_sig, gold_int = _labels(rows)
    fired = sig_p >= np.array(thresholds)[None, :]
    urgent_cols = [SIGNALS.index(s) for s in URGENT_SIGNALS]
    out = {}
    for lang in (*LANGS, "all"):
        m = np.array([lang == "all" or r.lang == lang for r in rows])
        if not m.any():
            continue
        out[lang] = {
            "comments": int(m.sum()),
            "urgent": H.prf(fired[m][:, urgent_cols].any(1), gold_sig[m][:, urgent_cols].any(1)),
            "intent_accuracy": round(float((intent_p[m].argmax(1) == gold_int[m]).mean()), 3),
            "signals": {s: H.prf(fired[m][:, i], gold_sig[m][:, i]) for i, s in enumerate(SIGNALS)},
        }
    return out


def build(model_dir: str, data_dir: str, out: str, threads: int) -> dict:
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(name: str, start: float) -> float:
        now = time.perf_counter()
        phases[name] = round(now - start, 1)
        _log(f"    {name}: {now - start:.1f} s")
        return now

    _log("1/4 reading the labelled comments")
    train, heldout = dataset.read_splits(data_dir)
    _log(f"    train {len(train)}, held-out {len(heldout)}")
    t = time.perf_counter()
    _log("2/4 embedding them with the model")
    emb = embed(model_dir, [r.text for r in train + heldout], threads)
    x, x_held = emb[: len(train)], emb[len(train) :]
    t = phase("embedding", t)

    _log(f"3/4 choosing the heads by {FOLDS}-fold cross-validation on train ({len(L2_GRID)} strengths)")
    y_sig, y_int = _labels(train)
    strata = np.array([f"{r.lang}:{r.intent}" for r in train])
    parts = H.folds(len(train), FOLDS, strata)
    trials = []
    for i, l2 in enumerate(L2_GRID, 1):
        sig, intent = H.out_of_fold(x, y_sig, y_int, l2, l2, parts)
        ap = float(np.mean([_average_precision(sig[:, j], y_sig[:, j]) for j in range(len(SIGNALS))]))
        acc = float((intent.argmax(1) == y_int).mean())
        trials.append({"l2": l2, "signal_mean_ap": round(ap, 4), "intent_accuracy": round(acc, 4), "sig": sig, "intent": intent})
        _log(f"    [{i}/{len(L2_GRID)}] l2 {l2:g}: signals mean AP {ap:.3f}, intent accuracy {acc:.3f}")
    best_sig = max(trials, key=lambda r: r["signal_mean_ap"])
    best_int = max(trials, key=lambda r: r["intent_accuracy"])
    oof_sig, oof_int = best_sig["sig"], best_int["intent"]
    platt = [H.platt(oof_sig[:, j], y_sig[:, j]) for j in range(len(SIGNALS))]
    cal = np.stack([H.sigmoid(a * oof_sig[:, j] + b) for j, (a, b) in enumerate(platt)], 1)
    temp = H.temperature(oof_int, y_int)
    urgent_cols = [SIGNALS.index(s) for s in URGENT_SIGNALS]
    gold_urgent = y_sig[:, urgent_cols].any(1)
    target_trials = []
    for mp in MIN_PRECISIONS:
        th = [H.pick_threshold(cal[:, j], y_sig[:, j], mp) for j in range(len(SIGNALS))]
        u = H.prf((cal >= np.array(th))[:, urgent_cols].any(1), gold_urgent)
        target_trials.append({"min_precision": mp, "urgent": u, "thresholds": th})
        _log(f"    per-signal precision {mp}: out-of-fold urgent P {u['precision']} R {u['recall']}")
    ok = [t for t in target_trials if (t["urgent"]["precision"] or 0) >= URGENT_PRECISION]
    chosen = max(ok, key=lambda t: t["urgent"]["recall"] or 0) if ok else max(target_trials, key=lambda t: t["urgent"]["precision"] or 0)
    thresholds = chosen["thresholds"]
    cv_report = _report(train, cal, H.softmax(oof_int / temp), thresholds)
    t = phase("cross-validation", t)

    _log("4/4 fitting on all of train, scoring held-out")
    z = H.Standardizer.fit(x)
    sig_head = z.fold(H.fit_signals(z(x), y_sig, best_sig["l2"]))
    int_head = z.fold(H.fit_intent(z(x), y_int, best_int["l2"]))

    def apply(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = sig_head.logits(e)
        p = np.stack([H.sigmoid(a * z[:, j] + b) for j, (a, b) in enumerate(platt)], 1)
        return p, H.softmax(int_head.logits(e) / temp)

    held_sig, held_int = apply(x_held)
    held_report = _report(heldout, held_sig, held_int, thresholds)
    t = phase("fitting", t)

    os.makedirs(out, exist_ok=True)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    unit.astype("<f4").tofile(os.path.join(out, NEIGHBOURS_FILE))
    with open(os.path.join(out, EXAMPLES_FILE), "w", encoding="utf-8") as f:
        for r in train:
            f.write(json.dumps({"text": r.text, "lang": r.lang, "intent": r.intent, "signals": list(r.signals)}, ensure_ascii=False) + "\n")
    golden_rows = [0, len(train) // 2, len(train) - 1]
    gp, gi = apply(x[golden_rows])
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        model_card = json.load(f)
    files = {n: sha256_file(os.path.join(out, n)) for n in (NEIGHBOURS_FILE, EXAMPLES_FILE)}
    weights_hash = hashlib.sha256(sig_head.weight.tobytes() + int_head.weight.tobytes() + files[NEIGHBOURS_FILE].encode()).hexdigest()
    card = {
        "name": "vigie-signals",
        "version": f"vigie-signals-{weights_hash[:12]}",
        "model_version": model_card["version"],
        "dim": int(x.shape[1]),
        "signals": [
            {
                "name": s,
                "urgent": s in URGENT_SIGNALS,
                "weight": [round(float(v), 7) for v in sig_head.weight[j]],
                "bias": round(float(sig_head.bias[j]), 7),
                "platt": [round(platt[j][0], 7), round(platt[j][1], 7)],
                "threshold": round(thresholds[j], 4),
            }
            for j, s in enumerate(SIGNALS)
        ],
        "intent": {
            "labels": list(INTENTS),
            "weight": [[round(float(v), 7) for v in row] for row in int_head.weight],
            "bias": [round(float(v), 7) for v in int_head.bias],
            "temperature": round(temp, 6),
        },
        "examples": {"embeddings": NEIGHBOURS_FILE, "labels": EXAMPLES_FILE, "count": len(train)},
        "choice": {
            "l2_signals": best_sig["l2"],
            "l2_intent": best_int["l2"],
            "min_precision": chosen["min_precision"],
            "urgent_precision": URGENT_PRECISION,
            "threshold_trials": [{k: v for k, v in t.items() if k != "thresholds"} for t in target_trials],
            "folds": FOLDS,
            "trials": [{k: v for k, v in r.items() if k not in ("sig", "intent")} for r in trials],
        },
        "figures": {"train_cross_validation": cv_report, "heldout": held_report},
        "data": {"train": len(train), "heldout": len(heldout)},
        "golden": [
            {"embedding": [round(float(v), 7) for v in x[r]], "signals": [round(float(v), 6) for v in gp[k]], "intent": [round(float(v), 6) for v in gi[k]]}
            for k, r in enumerate(golden_rows)
        ],
        "files": files,
        "phases_seconds": phases,
        "build_seconds": round(time.perf_counter() - t0, 1),
    }
    return card


def _print_figures(card: dict) -> None:
    for name, rep in card["figures"].items():
        _log(f"{name}:")
        for lang, r in rep.items():
            u = r["urgent"]
            _log(f"    {lang}: urgent P {u['precision']} R {u['recall']} (n={u['support']}), intent accuracy {r['intent_accuracy']} ({r['comments']} comments)")


def main(argv=None) -> int:
    from vigie_recipe.cache import default_root

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a built model folder (model.onnx, tokenizer.json, model.json)")
    ap.add_argument("--data", required=True, help="the labelled comments (train/ and heldout/)")
    ap.add_argument("--out", help="where the heads go (default: MODEL/signals)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cache-root", default=default_root())
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date or cached")
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.model, "signals")
    try:
        fp = fingerprint(args.model, args.data)
        if not args.force and _complete(out, fp):
            _log(f"signal heads in {out} are up to date (inputs fingerprint {fp[:12]}); nothing to do")
            return 0
        cached = os.path.join(args.cache_root, "signals", fp)
        if not args.force and _complete(cached, fp):
            _copy(cached, out)
            _log(f"signal heads restored from {cached}")
            return 0
        tmp = tempfile.mkdtemp(prefix=".signals-", dir=os.path.dirname(os.path.abspath(out)))
        card = build(args.model, args.data, tmp, args.threads)
        card["inputs_fingerprint"] = fp
        with open(os.path.join(tmp, "heads.json"), "w", encoding="utf-8") as f:
            json.dump(card, f, ensure_ascii=False, indent=1)
            f.write("\n")
        _copy(tmp, out)
        shutil.rmtree(tmp)
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{fp[:12]}-", dir=os.path.dirname(cached))
        _copy(out, staging)
        if os.path.exists(cached):
            shutil.rmtree(cached)
        os.replace(staging, cached)
        _print_figures(card)
        _log(f"signal heads {card['version']} written to {out} in {card['build_seconds']:.0f} s (kept in {cached})")
    except (dataset.DataError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
