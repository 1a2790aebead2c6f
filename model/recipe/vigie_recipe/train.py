"""Fine-tune the upper layers of the encoder for three-way sentiment.

The lower layers stay frozen: their outputs are computed once and cached (16-bit), so each
epoch only runs the upper layers. The loss adds to the cross-entropy a term that keeps the
pooled embedding close to the original e5 embedding, so retrieval keeps working.
"""

from __future__ import annotations

import copy
import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .net import Encoder

# Matrix products in bfloat16 or float32, set by `choose_precision` before training.
# A CPU that supports bfloat16 is not always faster with it: a Xeon with AVX-512 BF16 ran
# a training step 1.65 times slower in bfloat16 than in float32.
_BF16 = False

# With "fastest", bfloat16 must beat float32 by this factor, so that timing noise never
# flips the choice (and with it the model) between two builds on one machine.
BF16_MARGIN = 1.25

PRECISIONS = ("supported", "fastest", "bf16", "fp32")


def bf16_supported() -> bool:
    return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=_BF16)


def _step_seconds(enc: Encoder, split: int, bf16: bool, batch: int, tokens: int) -> float:
    """Seconds of one forward and backward pass of the upper layers, like a training step."""
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(batch, tokens, enc.word.weight.shape[1], generator=gen)
    mask = torch.ones(batch, tokens, dtype=torch.long)
    started = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits, emb = enc.outputs(enc.run_layers(h, mask, split), mask)
    (logits.float().sum() + emb.float().sum()).backward()
    return time.perf_counter() - started


def choose_precision(enc: Encoder, split: int, wanted: str = "supported", batch: int = 32, tokens: int = 48, rounds: int = 3) -> dict:
    """Sets the training precision and says why. `wanted`:

    - "supported": bfloat16 wherever the CPU supports it (the reference builds);
    - "fastest": times a training step both ways on a copy of the network (best of
      `rounds`, alternating) and takes bfloat16 only if it is BF16_MARGIN times faster;
    - "bf16" or "fp32".
    """
    global _BF16
    if wanted not in PRECISIONS:
        raise ValueError(f"precision {wanted!r}: expected one of {', '.join(PRECISIONS)}")
    supported = bf16_supported()
    if wanted == "bf16" and not supported:
        raise ValueError("precision bf16: this CPU has no bfloat16 support in oneDNN")
    report = {"wanted": wanted, "bf16_supported": supported}
    if wanted == "fastest" and supported:
        probe = copy.deepcopy(enc).eval()  # eval: no dropout drawing from the global generator
        for p in probe.parameters():
            p.requires_grad_(True)
        best = {False: math.inf, True: math.inf}
        for r in range(rounds + 1):
            for bf16 in (False, True):
                seconds = _step_seconds(probe, split, bf16, batch, tokens)
                if r > 0:  # the first round warms up both paths
                    best[bf16] = min(best[bf16], seconds)
        del probe
        report["step_ms"] = {"fp32": best[False] * 1e3, "bf16": best[True] * 1e3}
        _BF16 = best[False] / best[True] >= BF16_MARGIN
    else:
        _BF16 = supported if wanted == "supported" else wanted == "bf16"
    report["chosen"] = precision()
    return report


def precision() -> str:
    return "bf16" if _BF16 else "fp32"


def batches(seqs: list[list[int]], size: int, max_tokens_per_batch: int = 4096):
    """Indices grouped by length so that a batch pads little."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out, cur = [], []
    for i in order:
        longest = max(len(seqs[cur[0]]) if cur else 0, len(seqs[i]))
        if cur and (len(cur) >= size or longest * (len(cur) + 1) > max_tokens_per_batch):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def pad(seqs: list[list[int]]):
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), 1, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    return ids, mask


@torch.no_grad()
def cache_lower(enc: Encoder, seqs, groups, split: int, desc: str):
    enc.eval()
    cached = []
    for g in tqdm(groups, desc=desc, unit="batch", mininterval=2.0):
        ids, mask = pad([seqs[i] for i in g])
        with autocast():
            h = enc.run_layers(enc.embed(ids), mask, 0, split)
        cached.append((g, h.to(torch.bfloat16 if _BF16 else torch.float16), mask))
    return cached


@torch.no_grad()
def teacher_embeddings(enc: Encoder, cached, split: int):
    enc.eval()
    out = []
    for g, h, mask in tqdm(cached, desc="teacher embeddings", unit="batch", mininterval=2.0):
        with autocast():
            _, emb = enc.outputs(enc.run_layers(h.float(), mask, split), mask)
        out.append(emb.float())
    return out


def fine_tune(enc: Encoder, cached, labels: np.ndarray, teacher, split: int, epochs: int, lr: float, distill: float, seed: int = 13, weights: np.ndarray | None = None, after_epoch=None, average_from: int = 0):
    """AdamW on the upper layers and the head. `weights` scale each text's cross-entropy (a
    weight of 2 counts a text as if it were seen twice, at half the cost); `after_epoch(n)`
    is called after each epoch (the validation curve). Returns the network (its weights those
    of the last epoch) and, if `average_from` is at least 1 and below `epochs`, the uniform
    average of the trained weights at the end of epochs `average_from`..`epochs` (else None)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    upper = [p for layer in enc.layers[split:] for p in layer.parameters()]
    head = list(enc.head_dense.parameters()) + list(enc.head_out.parameters())
    for p in enc.parameters():
        p.requires_grad_(False)
    for p in upper + head:
        p.requires_grad_(True)
    opt = torch.optim.AdamW([{"params": upper, "lr": lr}, {"params": head, "lr": lr * 10}], weight_decay=0.01)
    total = epochs * len(cached)
    warmup = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    y_all = torch.from_numpy(labels)
    w_all = torch.from_numpy(np.ones(len(labels), dtype=np.float32) if weights is None else weights.astype(np.float32))
    trained = [n for n, p in enc.named_parameters() if p.requires_grad]
    average, averaged = None, 0
    step = 0
    for epoch in range(epochs):
        enc.train()
        order = list(range(len(cached)))
        rng.shuffle(order)
        bar = tqdm(order, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", mininterval=2.0)
        run_loss, run_n = 0.0, 0
        for b in bar:
            g, h, mask = cached[b]
            with autocast():
                logits, emb = enc.outputs(enc.run_layers(h.float(), mask, split), mask)
            loss = (F.cross_entropy(logits.float(), y_all[g], reduction="none") * w_all[g]).mean()
            if distill > 0:
                loss = loss + distill * (1.0 - (emb.float() * teacher[b]).sum(-1)).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(upper + head, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            run_loss += loss.item() * len(g)
            run_n += len(g)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{run_loss / run_n:.3f}")
        bar.close()
        if 1 <= average_from <= epoch + 1 and average_from < epochs:
            params = dict(enc.named_parameters())
            averaged += 1
            if average is None:
                average = {n: params[n].detach().clone() for n in trained}
            else:
                for n in trained:
                    average[n] += (params[n].detach() - average[n]) / averaged
        if after_epoch is not None:
            enc.eval()
            after_epoch(epoch + 1)
    enc.eval()
    return enc, average


@torch.no_grad()
def swap_in(enc: Encoder, weights: dict) -> dict:
    """Loads `weights` (name -> tensor, a subset of the parameters) into `enc`; returns the
    weights they replaced."""
    params = dict(enc.named_parameters())
    old = {n: params[n].detach().clone() for n in weights}
    for n, w in weights.items():
        params[n].copy_(w)
    return old


@torch.no_grad()
def predict_cached(enc: Encoder, cached, n: int, split: int):
    enc.eval()
    logits = torch.zeros((n, 3))
    emb = torch.zeros((n, enc.word.weight.shape[1]))
    for g, h, mask in cached:
        with autocast():
            lg, e = enc.outputs(enc.run_layers(h.float(), mask, split), mask)
        logits[g] = lg.float()
        emb[g] = e.float()
    return logits.numpy(), emb.numpy()


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature that minimises the negative log-likelihood (1-D, golden section)."""
    lt = torch.from_numpy(logits).double()
    y = torch.from_numpy(labels)

    def nll(t):
        return F.cross_entropy(lt / t, y).item()

    lo, hi = 0.05, 10.0
    g = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if nll(a) < nll(b):
            hi = b
        else:
            lo = a
    return float((lo + hi) / 2)
