"""Run an ONNX model with ONNX Runtime and score it; the same metrics `vigie eval` prints."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

LABELS = ["negative", "neutral", "positive"]


def session(path: str, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, seqs: list[list[int]], batch: int = 32, desc: str | None = None, sort: bool = True):
    """Probabilities and embeddings in input order; batches grouped by length when `sort`."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i])) if sort else list(range(len(seqs)))
    probs = np.zeros((len(seqs), 3), dtype=np.float32)
    emb = None
    groups = [order[i : i + batch] for i in range(0, len(order), batch)]
    for g in tqdm(groups, desc=desc, unit="batch", mininterval=2.0, disable=desc is None):
        width = max(len(seqs[i]) for i in g)
        ids = np.full((len(g), width), 1, dtype=np.int64)
        mask = np.zeros((len(g), width), dtype=np.int64)
        for r, i in enumerate(g):
            ids[r, : len(seqs[i])] = seqs[i]
            mask[r, : len(seqs[i])] = 1
        p, e = sess.run(["probabilities", "embedding"], {"input_ids": ids, "attention_mask": mask})
        if emb is None:
            emb = np.zeros((len(seqs), e.shape[1]), dtype=np.float32)
        probs[g] = p
        emb[g] = e
    return probs, emb


def rescale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities of a temperature-1 softmax, recomputed at `temperature`."""
    z = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def metrics(gold: np.ndarray, probs: np.ndarray) -> dict:
    """accuracy, macro-F1 over the gold classes, confusion (rows gold), binary accuracy, ECE."""
    pred = probs.argmax(1)
    classes = sorted(set(gold.tolist()))
    f1s = []
    for c in classes:
        tp = int(((pred == c) & (gold == c)).sum())
        fp = int(((pred == c) & (gold != c)).sum())
        fn = int(((pred != c) & (gold == c)).sum())
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    confusion = [[int(((gold == g) & (pred == p)).sum()) for p in range(3)] for g in range(3)]
    out = {
        "n": int(len(gold)),
        "accuracy": float((pred == gold).mean()),
        "macro_f1": float(np.mean(f1s)),
        "confusion": confusion,
        "ece": ece(gold, probs),
    }
    polar = gold != 1
    if polar.any():
        binary = np.where(probs[:, 2] >= probs[:, 0], 2, 0)
        out["binary_accuracy"] = float((binary[polar] == gold[polar]).mean())
    return out


def ece(gold: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    conf = probs.max(1)
    correct = probs.argmax(1) == gold
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = (conf > lo) & (conf <= hi) if b else (conf >= lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def precision_thresholds(gold: np.ndarray, probs: np.ndarray, targets=(0.8, 0.9)) -> dict:
    """Per label, the lowest probability at which predicting it reaches each precision."""
    out = {}
    for c, name in enumerate(LABELS):
        p = probs[:, c]
        order = np.argsort(-p)
        hits = np.cumsum(gold[order] == c)
        prec = hits / np.arange(1, len(order) + 1)
        entry = {}
        for t in targets:
            ok = np.nonzero(prec >= t)[0]
            # the deepest cut that still meets the precision target
            entry[f"precision_{int(t * 100)}"] = None if len(ok) == 0 else round(float(p[order[ok[-1]]]), 4)
        out[name] = entry
    return out
