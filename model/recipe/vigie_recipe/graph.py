"""Write the network as a plain ONNX graph (opset 17), node by node.

Inputs `input_ids`, `attention_mask` (int64, [batch, tokens]); outputs `probabilities`
([batch, 3], softmax of logits / temperature) and `embedding` ([batch, hidden], unit norm).
Word embeddings are stored int8 with one scale per row and gathered before dequantising,
so a lookup costs a row, not the table. Linear layers stay float here; `quantize.py`
turns their MatMuls into int8 with fixed activation scales.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
TEMPERATURE = "temperature"


class Graph:
    """Nodes and initialisers of an ONNX graph being written, with generated node names."""

    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, domain: str | None = None, outputs: int = 1, **attrs):
        """Adds a node; returns its output name, or the list of names if `outputs` > 1."""
        self._n += 1
        out = name or f"{op_type.lower()}_{self._n}"
        names = [out] if outputs == 1 else [f"{out}_{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=out, domain=domain, **attrs))
        return out if outputs == 1 else names


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(table).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(table / scale), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def build(state: dict[str, np.ndarray], heads: int, eps: float, max_tokens: int, temperature: float = 1.0):
    """`state` is the PyTorch state dict of `net.Encoder` as float32 numpy arrays."""
    g = Graph()
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    hidden = state["word.weight"].shape[1]
    layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
    hd = hidden // heads

    word_q, word_scale = quantize_rows(state["word.weight"])
    g.const("word_q", word_q)
    g.const("word_scale", word_scale)
    g.const("position", f32(state["pos.weight"][:max_tokens]))
    words = g.op(
        "Mul",
        [
            g.op("Cast", [g.op("Gather", ["word_q", "input_ids"], "word_rows")], "word_rows_f", to=TensorProto.FLOAT),
            g.op("Gather", ["word_scale", "input_ids"], "word_row_scale"),
        ],
        "word_embedding",
    )
    length = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    zero = g.const("zero_1d", np.array([0], dtype=np.int64))
    pos = g.op("Slice", ["position", zero, length, zero], "position_rows")
    x = g.op("Add", [g.op("Add", [words, pos], "embed_sum"), g.const("token_type", f32(state["token_type"]))], "embed_all")
    x = g.op("LayerNormalization", [x, g.const("eln_w", f32(state["eln.weight"])), g.const("eln_b", f32(state["eln.bias"]))], "embed_ln", axis=-1, epsilon=eps)

    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    bias = g.op(
        "Unsqueeze",
        [g.op("Mul", [g.op("Sub", [g.const("one", np.float32(1.0)), mask_f], "mask_inv"), g.const("neg_big", np.float32(-1e9))], "mask_bias"), g.const("axes_12", np.array([1, 2], dtype=np.int64))],
        "attn_bias",
    )
    split_shape = g.const("split_shape", np.array([0, 0, heads, hd], dtype=np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, hidden], dtype=np.int64))

    def linear(inp, prefix, w, b, scale=1.0):
        wt = g.const(f"{prefix}_w", f32(state[w].T * scale))
        return g.op("Add", [g.op("MatMul", [inp, wt], f"{prefix}_matmul"), g.const(f"{prefix}_b", f32(state[b] * scale))], f"{prefix}_out")

    for i in range(layers):
        p = f"layers.{i}."
        L = f"l{i}"
        # 1/sqrt(head_dim) is folded into the query projection.
        q = linear(x, f"{L}_q", p + "q.weight", p + "q.bias", 1.0 / math.sqrt(hd))
        k = linear(x, f"{L}_k", p + "k.weight", p + "k.bias")
        v = linear(x, f"{L}_v", p + "v.weight", p + "v.bias")
        qh = g.op("Transpose", [g.op("Reshape", [q, split_shape], f"{L}_q_split")], f"{L}_q_heads", perm=[0, 2, 1, 3])
        kh = g.op("Transpose", [g.op("Reshape", [k, split_shape], f"{L}_k_split")], f"{L}_k_heads", perm=[0, 2, 3, 1])
        vh = g.op("Transpose", [g.op("Reshape", [v, split_shape], f"{L}_v_split")], f"{L}_v_heads", perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("MatMul", [qh, kh], f"{L}_attn_scores"), bias], f"{L}_attn_masked")
        probs = g.op("Softmax", [scores], f"{L}_attn_probs", axis=-1)
        ctx = g.op("MatMul", [probs, vh], f"{L}_attn_context")
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], f"{L}_ctx_t", perm=[0, 2, 1, 3]), merge_shape], f"{L}_ctx")
        att = linear(ctx, f"{L}_ao", p + "ao.weight", p + "ao.bias")
        x = g.op("LayerNormalization", [g.op("Add", [x, att], f"{L}_res1"), g.const(f"{L}_aln_w", f32(state[p + "aln.weight"])), g.const(f"{L}_aln_b", f32(state[p + "aln.bias"]))], f"{L}_ln1", axis=-1, epsilon=eps)
        h = linear(x, f"{L}_fi", p + "fi.weight", p + "fi.bias")
        # exact GELU, 0.5 x (1 + erf(x / sqrt 2)): ONNX Runtime fuses the pattern.
        erf = g.op("Erf", [g.op("Div", [h, g.const(f"{L}_sqrt2", np.float32(math.sqrt(2.0)))], f"{L}_gelu_div")], f"{L}_gelu_erf")
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, "one"], f"{L}_gelu_add")], f"{L}_gelu_mul"), g.const(f"{L}_half", np.float32(0.5))], f"{L}_gelu")
        ffn = linear(h, f"{L}_fo", p + "fo.weight", p + "fo.bias")
        x = g.op("LayerNormalization", [g.op("Add", [x, ffn], f"{L}_res2"), g.const(f"{L}_oln_w", f32(state[p + "oln.weight"])), g.const(f"{L}_oln_b", f32(state[p + "oln.bias"]))], f"{L}_ln2", axis=-1, epsilon=eps)

    # Sentence embedding: mean over real tokens, then unit length.
    m3 = g.op("Unsqueeze", [mask_f, g.const("axis_2", np.array([2], dtype=np.int64))], "mask_3d")
    axis1 = g.const("axis_1", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, m3], "masked_hidden"), axis1], "hidden_sum", keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [mask_f, axis1], "token_count", keepdims=1), "one"], "token_count_1")
    pooled = g.op("Div", [summed, count], "pooled")
    norm = g.op("Max", [g.op("Sqrt", [g.op("ReduceSumSquare", [pooled], "pooled_sq", axes=[1], keepdims=1)], "pooled_norm"), g.const("tiny", np.float32(1e-12))], "pooled_norm_1")
    g.op("Div", [pooled, norm], "embedding")

    # Sentiment: head on [mean ; first token], temperature-scaled softmax.
    cls = g.op("Gather", [x, g.const("first", np.array(0, dtype=np.int64))], "cls", axis=1)
    features = g.op("Concat", [pooled, cls], "head_features", axis=1)
    dense = g.op("Tanh", [linear(features, "head_dense", "head_dense.weight", "head_dense.bias")], "head_tanh")
    logits = linear(dense, "head_out", "head_out.weight", "head_out.bias")
    scaled = g.op("Div", [logits, g.const(TEMPERATURE, np.float32(temperature))], "logits_scaled")
    g.op("Softmax", [scaled], "probabilities", axis=-1)

    batch, tokens = "batch", "tokens"
    graph = helper.make_graph(
        g.nodes,
        "vigie_sentiment",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, [batch, tokens]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [batch, tokens]),
        ],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, 3]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, hidden]),
        ],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vigie-recipe")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def encoder_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of the weight MatMuls of the encoder (projections and feed-forward)."""
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name.startswith("l") and not n.name.endswith(("_attn_scores", "_attn_context"))]


def static_matmuls(model: onnx.ModelProto) -> list[str]:
    """MatMuls quantized with int8 activations. The feed-forward output projection is left
    out: its input (after GELU) spans a range a per-tensor uint8 scale cannot resolve."""
    return [n for n in encoder_matmuls(model) if not n.endswith("_fo_matmul")]


def weight_only_matmuls(model: onnx.ModelProto) -> list[str]:
    return [n for n in encoder_matmuls(model) if n.endswith("_fo_matmul")]


def quantize_weights_only(model: onnx.ModelProto, nodes: list[str]) -> None:
    """Stores the weights of `nodes` int8 (symmetric, per output channel) behind a
    DequantizeLinear; activations stay float, so results do not depend on batch-mates."""
    inits = {i.name: i for i in model.graph.initializer}
    for name in nodes:
        idx, node = next((k, n) for k, n in enumerate(model.graph.node) if n.name == name)
        w_name = node.input[1]
        w = numpy_helper.to_array(inits[w_name])
        scale = np.abs(w).max(axis=0) / 127.0
        scale[scale == 0] = 1.0
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        model.graph.initializer.remove(inits[w_name])
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(q, f"{w_name}_int8"),
                numpy_helper.from_array(scale.astype(np.float32), f"{w_name}_scale"),
                numpy_helper.from_array(np.zeros(w.shape[1], dtype=np.int8), f"{w_name}_zero"),
            ]
        )
        dq = helper.make_node("DequantizeLinear", [f"{w_name}_int8", f"{w_name}_scale", f"{w_name}_zero"], [w_name], name=f"{w_name}_dequantize", axis=1)
        model.graph.node.insert(idx, dq)


def set_temperature(model: onnx.ModelProto, temperature: float) -> None:
    for init in model.graph.initializer:
        if init.name == TEMPERATURE:
            init.CopyFrom(numpy_helper.from_array(np.float32(temperature), TEMPERATURE))
            return
    raise KeyError(TEMPERATURE)
