"""The served graph: every encoder MatMul in int8, ONNX Runtime's fused kernels, and
activation steps fixed at build time, so a text's result never depends on its batch-mates.

It is compiled from the trained model (stage 1, `vigie_recipe`): its weights are read back
from that graph (int8 per output channel, the values stage 1 serves) and laid out again,
layer by layer:

    x ─ Mul ─ QuantizeLinear ─ MatMulIntegerToFloat (q|k|v, bias) ─ Split ─ MultiHeadAttention
      ─ QuantizeLinear ─ MatMulIntegerToFloat (bias) ─ Add(+x) ─ LayerNormalization
      ─ Mul ─ QuantizeLinear ─ MatMulIntegerToFloat (bias) ─ Gelu
      ─ Mul ─ QuantizeLinear ─ MatMulIntegerToFloat (bias) ─ Add(+x) ─ LayerNormalization

Activations are quantized to uint8 with a step per input channel, calibrated once on
training texts run one at a time. A channel's step is folded into that row of the weights,
so the integer product needs no activation scale, and the zero point into the bias; a
channel with a wide range then weighs on its weight row instead of coarsening every other
channel (SmoothQuant's idea; `alpha` sets the balance: 1 gives each channel the step its
range needs, 0 one step for the whole tensor). The steps are applied by one Mul before
QuantizeLinear's per-tensor rounding: its per-axis form runs a slow generic loop. The
attention output needs no Mul: its steps and zero points are folded into the value
projection, since a softmax-weighted sum of v / step + zero is ctx / step + zero.

Residual adds stay beside LayerNormalization: ONNX Runtime's CPU SkipLayerNormalization
took five times as long as the two (2.3 ms against 0.44 ms on 1,920 tokens).

Weights use 7 bits (-63..63): a uint8 by int8 product pair then fits the 16-bit sums of
CPUs without VNNI, so integer results, and verdicts, are the same on every x86-64 CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vigie_recipe.graph import Graph

OPSET = 17
MS = "com.microsoft"
TEMPERATURE = "temperature"
WEIGHT_MAX = 63  # 7-bit weights, see the module docstring


@dataclass
class Trained:
    """Float weights of the trained encoder and its heads, as stage 1 serves them."""

    heads: int
    eps: float
    hidden: int
    layers: int
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    def weight(self, layer: int, name: str) -> np.ndarray:
        """[in, out] float weight of a projection; `qkv` is q, k and v side by side."""
        if name == "qkv":
            return np.concatenate([self.tensors[f"l{layer}_{p}_w"] for p in ("q", "k", "v")], axis=1)
        return self.tensors[f"l{layer}_{name}_w"]

    def bias(self, layer: int, name: str) -> np.ndarray:
        if name == "qkv":
            return np.concatenate([self.tensors[f"l{layer}_{p}_b"] for p in ("q", "k", "v")])
        return self.tensors[f"l{layer}_{name}_b"]


def read_trained(model: onnx.ModelProto) -> Trained:
    """Reads stage 1's graph (`vigie_recipe.graph` + `quantize`) back into float weights."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    attrs = {n.name: n for n in model.graph.node}
    eps = next(a.f for a in attrs["embed_ln"].attribute if a.name == "epsilon")
    hidden = inits["eln_w"].shape[0]
    heads = hidden // int(inits["split_shape"][3])
    layers = 1 + max(int(n[1:].split("_")[0]) for n in attrs if n.startswith("l") and n[1:].split("_")[0].isdigit())
    t: dict[str, np.ndarray] = {}
    for name in ("word_q", "word_scale", "position", "token_type", "eln_w", "eln_b", "head_dense_w", "head_dense_b", "head_out_w", "head_out_b", TEMPERATURE):
        t[name] = inits[name]
    for i in range(layers):
        for p in ("q", "k", "v", "ao", "fi", "fo"):
            w = f"l{i}_{p}_w"
            if f"{w}_quantized" in inits:
                q, s = inits[f"{w}_quantized"], inits[f"{w}_scale"]
            elif f"{w}_int8" in inits:
                q, s = inits[f"{w}_int8"], inits[f"{w}_scale"]
            else:
                q, s = inits[w], np.float32(1.0)
            t[w] = (q.astype(np.float32) * s).astype(np.float32)
            t[f"l{i}_{p}_b"] = inits[f"l{i}_{p}_b"]
        for ln in ("aln", "oln"):
            t[f"l{i}_{ln}_w"], t[f"l{i}_{ln}_b"] = inits[f"l{i}_{ln}_w"], inits[f"l{i}_{ln}_b"]
    return Trained(heads=heads, eps=eps, hidden=hidden, layers=layers, tensors=t)


@dataclass
class Range:
    """Per-channel minimum and maximum of a MatMul's input over the calibration texts."""

    low: np.ndarray
    high: np.ndarray


def input_name(layer: int, proj: str) -> str:
    """The float tensor a projection reads (an output of the float graph, for calibration)."""
    return {"qkv": f"l{layer}_in", "ao": f"l{layer}_ctx", "fi": f"l{layer}_ln1", "fo": f"l{layer}_gelu"}[proj]


def _steps(rng: Range, w: np.ndarray, alpha: float, shared_zero: bool):
    """Per-channel steps and zero points (one zero point for the tensor if `shared_zero`)."""
    low = np.minimum(rng.low, 0.0).astype(np.float64)
    high = np.maximum(rng.high, 0.0).astype(np.float64)
    width = np.maximum(high - low, 1e-8)
    wmax = np.maximum(np.abs(w).max(axis=1), 1e-8).astype(np.float64)
    # smoothing factor per channel: alpha 1 gives each channel its own step
    smooth = width**alpha / wmax ** (1.0 - alpha)
    smooth /= smooth.max()
    if not shared_zero:
        step = smooth * (np.max(width / smooth) / 255.0)
        return step, np.clip(np.round(-low / step), 0, 255)
    # one zero point z: every channel's [low, high] / step must fit [-z, 255 - z]
    below, above = np.max(-low / smooth), np.max(high / smooth)
    zero = float(np.clip(np.round(255.0 * below / max(below + above, 1e-12)), 1, 254))
    common = max(below / zero, above / (255.0 - zero))
    return smooth * common, np.full(len(low), zero)


def quantize_layer(w: np.ndarray, b: np.ndarray, step: np.ndarray, zero: np.ndarray):
    """The int8 weights that absorb the activation steps, and the bias that absorbs the zero
    points: x @ w + b ≈ ((q(x) - zero) * step) @ w + b = (q(x) @ wq) * wscale + bias'."""
    folded = w.astype(np.float64) * step[:, None]
    wscale = np.maximum(np.abs(folded).max(axis=0), 1e-12) / WEIGHT_MAX
    wq = np.clip(np.round(folded / wscale), -WEIGHT_MAX, WEIGHT_MAX)
    # (q - zero) @ wq = q @ wq - zero @ wq: the second term is a constant per output
    bias = b.astype(np.float64) - (zero @ wq) * wscale
    return wq.astype(np.int8), wscale.astype(np.float32), bias.astype(np.float32)


def build(trained: Trained, max_tokens: int, ranges: dict[str, Range] | None, alpha: float = 0.8) -> onnx.ModelProto:
    """The served graph; with `ranges=None`, the same graph in float with every MatMul input
    exposed as an output (`input_name`), to calibrate on."""
    t = trained.tensors
    g = Graph()
    h, heads = trained.hidden, trained.heads
    calibrating = ranges is None

    g.const("word_q", t["word_q"])
    g.const("word_scale", t["word_scale"])
    # the token-type row is the same for every position: added to the position table once
    g.const("position", (t["position"][:max_tokens] + t["token_type"]).astype(np.float32))
    words = g.op(
        "Mul",
        [g.op("Cast", [g.op("Gather", ["word_q", "input_ids"], "word_rows")], "word_rows_f", to=TensorProto.FLOAT), g.op("Gather", ["word_scale", "input_ids"], "word_row_scale")],
        "word_embedding",
    )
    length = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    zero = g.const("zero_1d", np.array([0], dtype=np.int64))
    pos = g.op("Slice", ["position", zero, length, zero], "position_rows")
    x = g.op("LayerNormalization", [g.op("Add", [words, pos], "embed_sum"), g.const("eln_w", t["eln_w"]), g.const("eln_b", t["eln_b"])], "embed_ln", axis=-1, epsilon=trained.eps)
    mask = g.op("Cast", ["attention_mask"], "key_padding_mask", to=TensorProto.INT32)
    exposed = []

    def matmul(p: str, q: str, wq, wscale, bias) -> str:
        return g.op(
            "MatMulIntegerToFloat",
            [q, g.const(f"{p}_w_q", wq), g.const(f"{p}_one", np.float32(1.0)), g.const(f"{p}_w_scale", wscale), g.const(f"{p}_x_zero0", np.uint8(0)), "", g.const(f"{p}_b", bias)],
            f"{p}_out",
            domain=MS,
        )

    def quantized_input(inp: str, p: str, step, zero, scaled: bool) -> str:
        """uint8 codes of `inp`; when `scaled`, `inp` already holds x / step + zero."""
        if not scaled:
            inp = g.op("Mul", [inp, g.const(f"{p}_x_inv_step", (1.0 / step).astype(np.float32))], f"{p}_x_steps")
        z = np.uint8(0 if scaled else zero[0])
        return g.op("QuantizeLinear", [inp, g.const(f"{p}_x_unit", np.float32(1.0)), g.const(f"{p}_x_zero", z)], f"{p}_x_q")

    def float_linear(inp: str, p: str, w, b) -> str:
        exposed.append(inp)
        return g.op("Add", [g.op("MatMul", [inp, g.const(f"{p}_w", w)], f"{p}_matmul"), g.const(f"{p}_b", b)], f"{p}_out")

    def project(inp: str, layer: int, proj: str, out_step=None, out_zero=None, scaled=False) -> str:
        """inp @ w + b in int8; with `out_step`, the output comes as y / out_step + out_zero."""
        w, b = trained.weight(layer, proj), trained.bias(layer, proj)
        p = f"l{layer}_{proj}"
        if out_step is not None:
            w, b = w / out_step[None, :], b / out_step + out_zero
        if calibrating:
            return float_linear(inp, p, w, b)
        step, zero = scaled if scaled else _steps(ranges[inp], trained.weight(layer, proj), alpha, shared_zero=True)
        wq, wscale, bias = quantize_layer(w, b, step, zero)
        return matmul(p, quantized_input(inp, p, step, zero, bool(scaled)), wq, wscale, bias)

    for i in range(trained.layers):
        L = f"l{i}"
        x = g.op("Identity", [x], f"{L}_in")
        if calibrating:
            ctx_step = ctx_zero = None
            v_step = v_zero = None
        else:
            # the attention output's steps and zero points are folded into the value projection:
            # a softmax-weighted sum of v / step + zero is ctx / step + zero
            ctx_step, ctx_zero = _steps(ranges[f"{L}_ctx"], trained.weight(i, "ao"), alpha, shared_zero=False)
            v_step = np.concatenate([np.ones(2 * h), ctx_step])
            v_zero = np.concatenate([np.zeros(2 * h), ctx_zero])
        qkv = project(x, i, "qkv", v_step, v_zero)
        q, k, v = g.op("Split", [qkv, g.const(f"{L}_qkv_split", np.array([h, h, h], dtype=np.int64))], f"{L}_qkv_split", outputs=3, axis=2)
        # 1/sqrt(head_dim) is already folded into the query projection
        ctx = g.op("MultiHeadAttention", [q, k, v, "", mask], f"{L}_ctx", domain=MS, num_heads=heads, scale=1.0)
        att = project(ctx, i, "ao", scaled=None if calibrating else (ctx_step, ctx_zero))
        x = g.op("LayerNormalization", [g.op("Add", [att, x], f"{L}_res1"), g.const(f"{L}_aln_w", t[f"{L}_aln_w"]), g.const(f"{L}_aln_b", t[f"{L}_aln_b"])], f"{L}_ln1", axis=-1, epsilon=trained.eps)
        ff = g.op("Gelu", [project(x, i, "fi")], f"{L}_gelu", domain=MS)
        out = project(ff, i, "fo")
        x = g.op("LayerNormalization", [g.op("Add", [out, x], f"{L}_res2"), g.const(f"{L}_oln_w", t[f"{L}_oln_w"]), g.const(f"{L}_oln_b", t[f"{L}_oln_b"])], f"{L}_ln2", axis=-1, epsilon=trained.eps)

    # Sentence embedding: mean over real tokens, then unit length (as stage 1).
    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    one = g.const("one", np.float32(1.0))
    m3 = g.op("Unsqueeze", [mask_f, g.const("axis_2", np.array([2], dtype=np.int64))], "mask_3d")
    axis1 = g.const("axis_1", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, m3], "masked_hidden"), axis1], "hidden_sum", keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [mask_f, axis1], "token_count", keepdims=1), one], "token_count_1")
    pooled = g.op("Div", [summed, count], "pooled")
    norm = g.op("Max", [g.op("Sqrt", [g.op("ReduceSumSquare", [pooled], "pooled_sq", axes=[1], keepdims=1)], "pooled_norm"), g.const("tiny", np.float32(1e-12))], "pooled_norm_1")
    g.op("Div", [pooled, norm], "embedding")

    cls = g.op("Gather", [x, g.const("first", np.array(0, dtype=np.int64))], "cls", axis=1)
    features = g.op("Concat", [pooled, cls], "head_features", axis=1)
    dense = g.op("Tanh", [g.op("Add", [g.op("MatMul", [features, g.const("head_dense_w", t["head_dense_w"])], "head_dense_matmul"), g.const("head_dense_b", t["head_dense_b"])], "head_dense_out")], "head_tanh")
    logits = g.op("Add", [g.op("MatMul", [dense, g.const("head_out_w", t["head_out_w"])], "head_out_matmul"), g.const("head_out_b", t["head_out_b"])], "head_out_out")
    scaled = g.op("Div", [logits, g.const(TEMPERATURE, np.float32(t[TEMPERATURE]))], "logits_scaled")
    g.op("Softmax", [scaled], "probabilities", axis=-1)

    outputs = [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", h]),
    ]
    ffn = trained.weight(0, "fi").shape[1]
    outputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "tokens", ffn if name.endswith("_gelu") else h]) for name in exposed]
    graph = helper.make_graph(
        g.nodes,
        "vigie_sentiment",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        outputs,
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS, 1)], producer_name="vigie-serving")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


WEIGHTS_FILE = "model.onnx.data"


def save(model: onnx.ModelProto, path: str) -> None:
    """Writes the graph to `path` and its tensors to `model.onnx.data` beside it. ONNX
    Runtime maps that file instead of copying it: the word embeddings it gathers rows from
    stay on disk but for the rows texts use."""
    import os

    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # saving moves the tensors' bytes out of the proto it is given
    data = os.path.join(os.path.dirname(path), WEIGHTS_FILE)
    if os.path.exists(data):
        os.remove(data)
    onnx.save_model(copy, path, save_as_external_data=True, all_tensors_to_one_file=True, location=WEIGHTS_FILE, size_threshold=1024)
    os.chmod(data, 0o644)  # read by whatever user runs the function, like model.onnx


def set_temperature(model: onnx.ModelProto, temperature: float) -> None:
    for init in model.graph.initializer:
        if init.name == TEMPERATURE:
            init.CopyFrom(numpy_helper.from_array(np.float32(temperature), TEMPERATURE))
            return
    raise KeyError(TEMPERATURE)
