"""The sentiment network in PyTorch: XLM-R encoder (post-LN BERT), two heads.

- `embedding`: mean of the last hidden states over real tokens, L2-normalised (e5's pooling).
- `logits`: a classification head on [mean of the last states ; first token (<s>) state]:
  dense, tanh, linear.
The ONNX graph in `graph.py` computes exactly this, weight for weight.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

LABELS = ["negative", "neutral", "positive"]


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.ao = nn.Linear(hidden, hidden)
        self.aln = nn.LayerNorm(hidden, eps=eps)
        self.fi = nn.Linear(hidden, ffn)
        self.fo = nn.Linear(ffn, hidden)
        self.oln = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        hd = h // self.heads

        def split(y):
            return y.view(b, t, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + bias
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)
        x = self.aln(x + self.ao(ctx))
        return self.oln(x + self.fo(F.gelu(self.fi(x))))


class Encoder(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int, heads: int, ffn: int, eps: float, max_pos: int):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_pos, hidden)
        self.token_type = nn.Parameter(torch.zeros(hidden))
        self.eln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(Layer(hidden, heads, ffn, eps) for _ in range(layers))
        self.head_dense = nn.Linear(2 * hidden, hidden)
        self.head_out = nn.Linear(hidden, len(LABELS))
        self.dropout = nn.Dropout(0.1)

    @staticmethod
    def attention_bias(mask: torch.Tensor) -> torch.Tensor:
        # Padded keys get a large negative bias: their softmax weight underflows to exactly 0,
        # so a text's result does not depend on how far its batch was padded.
        return ((1.0 - mask[:, None, None, :].float()) * -1e9).to(torch.float32)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.word(ids) + self.pos.weight[:t][None] + self.token_type
        return self.eln(x)

    def run_layers(self, x, mask, start: int = 0, stop: int | None = None):
        bias = self.attention_bias(mask)
        for layer in self.layers[start:stop]:
            x = layer(x, bias)
        return x

    def outputs(self, x: torch.Tensor, mask: torch.Tensor):
        m = mask[..., None].to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        embedding = F.normalize(pooled, dim=-1)
        features = self.dropout(torch.cat([pooled, x[:, 0]], dim=-1))
        logits = self.head_out(self.dropout(torch.tanh(self.head_dense(features))))
        return logits, embedding

    def forward(self, ids, mask):
        return self.outputs(self.run_layers(self.embed(ids), mask), mask)


def from_e5(w, vocab_rows: np.ndarray) -> Encoder:
    """Build the encoder from decoded e5 weights, keeping the embedding rows `vocab_rows`."""
    t = w.tensors
    enc = Encoder(len(vocab_rows), w.hidden, w.layers, w.heads, w.ffn, w.eps, t["emb.pos"].shape[0])
    sd = {
        "word.weight": t["emb.word"][vocab_rows],
        "pos.weight": t["emb.pos"],
        "token_type": t["emb.type"].reshape(2, -1)[0] if t["emb.type"].size == 2 * w.hidden else t["emb.type"],
        "eln.weight": t["emb.ln.w"],
        "eln.bias": t["emb.ln.b"],
    }
    names = {"q": "q", "k": "k", "v": "v", "ao": "ao", "fi": "fi", "fo": "fo", "aln": "aln", "oln": "oln"}
    for i in range(w.layers):
        for mod, src in names.items():
            sd[f"layers.{i}.{mod}.weight"] = t[f"l{i}.{src}.w"]
            sd[f"layers.{i}.{mod}.bias"] = t[f"l{i}.{src}.b"]
    state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in sd.items()}
    missing, unexpected = enc.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert set(missing) <= {"head_dense.weight", "head_dense.bias", "head_out.weight", "head_out.bias"}, missing
    return enc
