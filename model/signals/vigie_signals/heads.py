"""The heads: linear layers over the unit-length sentence embedding, trained with torch
on CPU, full batch with L-BFGS (deterministic, seconds for a few thousand comments).

- signals: one logistic output per risk signal (multi-label), then Platt scaling
  (a * logit + b) fitted on out-of-fold logits, so that the probabilities are calibrated;
- intent: a softmax over the intents, then a temperature fitted on out-of-fold logits.

Everything chosen (the L2 strength, the calibration, the thresholds) is chosen by
cross-validation inside the training split; the held-out split is only scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Linear:
    weight: np.ndarray  # [out, dim]
    bias: np.ndarray  # [out]

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight.T + self.bias


@dataclass
class Standardizer:
    """Per-feature centring and scaling learned on the training rows: the embedding's
    dimensions have very different spreads, and one L2 strength then suits them all."""

    mean: np.ndarray
    scale: np.ndarray

    @staticmethod
    def fit(x: np.ndarray) -> "Standardizer":
        return Standardizer(x.mean(0), x.std(0) + 1e-6)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)

    def fold(self, head: Linear) -> Linear:
        """The same head on raw (unscaled) inputs: what the Rust crate applies."""
        w = head.weight / self.scale
        return Linear(w.astype(np.float32), (head.bias - w @ self.mean).astype(np.float32))


def _fit(x: np.ndarray, y: np.ndarray, l2: float, multilabel: bool, pos_weight: np.ndarray | None = None, iters: int = 200) -> Linear:
    torch.manual_seed(0)
    xt = torch.from_numpy(x.astype(np.float32))
    n, dim = xt.shape
    out = y.shape[1] if multilabel else int(y.max()) + 1
    w = torch.zeros(out, dim, requires_grad=True)
    b = torch.zeros(out, requires_grad=True)
    if multilabel:
        yt = torch.from_numpy(y.astype(np.float32))
        pw = torch.from_numpy(pos_weight.astype(np.float32)) if pos_weight is not None else None
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pw)
    else:
        yt = torch.from_numpy(y.astype(np.int64))
        loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = loss_fn(xt @ w.T + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return Linear(w.detach().numpy().astype(np.float32), b.detach().numpy().astype(np.float32))


def fit_signals(x: np.ndarray, y: np.ndarray, l2: float) -> Linear:
    # Positives are rare: weight them up to about a third of the negatives, so that the
    # boundary is not pushed against them; calibration then restores true probabilities.
    pos = y.sum(0)
    pw = np.clip((len(y) - pos) / np.maximum(pos, 1) / 3.0, 1.0, 10.0)
    return _fit(x, y, l2, multilabel=True, pos_weight=pw)


def fit_intent(x: np.ndarray, y: np.ndarray, l2: float) -> Linear:
    return _fit(x, y, l2, multilabel=False)


def folds(n: int, k: int, strata: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """k folds of indices, each stratum spread evenly over them."""
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(n, dtype=np.int64)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        rng.shuffle(idx)
        start = rng.integers(k)
        fold_of[idx] = (np.arange(len(idx)) + start) % k
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def out_of_fold(x: np.ndarray, y_sig: np.ndarray, y_int: np.ndarray, l2_sig: float, l2_int: float, parts: list[np.ndarray], progress=None):
    """Logits of every training comment from heads that never saw it."""
    sig = np.zeros(y_sig.shape, dtype=np.float32)
    n_int = int(y_int.max()) + 1
    intent = np.zeros((len(y_int), n_int), dtype=np.float32)
    for test in parts:
        train = np.setdiff1d(np.arange(len(x)), test)
        z = Standardizer.fit(x[train])
        sig[test] = fit_signals(z(x[train]), y_sig[train], l2_sig).logits(z(x[test]))
        head = fit_intent(z(x[train]), y_int[train], l2_int)
        lg = head.logits(z(x[test]))
        if lg.shape[1] < n_int:
            lg = np.pad(lg, ((0, 0), (0, n_int - lg.shape[1])), constant_values=-1e4)
        intent[test] = lg
        if progress:
            progress()
    return sig, intent


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def platt(logits: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """a, b minimising the log loss of sigmoid(a * logit + b) against gold 0/1."""
    z = torch.from_numpy(logits.astype(np.float64))
    g = torch.from_numpy(gold.astype(np.float64))
    ab = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([ab], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ab[0] * z + ab[1], g) + 1e-4 * (ab[0] - 1) ** 2
        loss.backward()
        return loss

    opt.step(closure)
    a, b = ab.detach().numpy()
    return float(a), float(b)


def temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    z = torch.from_numpy(logits.astype(np.float64))
    g = torch.from_numpy(gold.astype(np.int64))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), g)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.exp().item())


def pick_threshold(probs: np.ndarray, gold: np.ndarray, min_precision: float) -> float:
    """The lowest threshold whose precision on these out-of-fold probabilities reaches
    `min_precision` (most recall at that precision); else the one of best F1."""
    order = np.argsort(-probs)
    p, g = probs[order], gold[order].astype(bool)
    tp = np.cumsum(g)
    k = np.arange(1, len(p) + 1)
    precision = tp / k
    recall = tp / max(g.sum(), 1)
    best = None
    for i in range(len(p)):
        if i + 1 < len(p) and p[i + 1] == p[i]:
            continue  # a threshold sits between distinct values
        if precision[i] >= min_precision and g[i]:
            best = i
    if best is None:
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
        best = int(np.argmax(f1))
    return float(max(min(p[best], 0.95), 0.05))


def prf(pred: np.ndarray, gold: np.ndarray) -> dict:
    pred, gold = pred.astype(bool), gold.astype(bool)
    tp = int((pred & gold).sum())
    fp = int((pred & ~gold).sum())
    fn = int((~pred & gold).sum())
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "support": int(gold.sum()),
        "predicted": int(pred.sum()),
    }
