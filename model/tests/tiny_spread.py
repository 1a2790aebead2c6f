"""How far whole-step changes of the tiny model's quantized activations move its outputs.

The bound behind the tolerance on the recorded values in tiny.rs: every activation that
the graph quantizes is moved, element by element at random, by -N, 0 or N steps of its own
scale, and the largest change of the probabilities and of the embedding's first components over
the golden texts is printed, with how far the unperturbed graph is from the recorded values.

    .venv/bin/python model/tests/tiny_spread.py --steps 4 --trials 1000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

TINY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "tiny")


def perturbed(graph_path: str, out_path: str) -> int:
    """The graph with `steps` (an input) times a random -1, 0 or 1 added to each quantized activation, in steps."""
    m = onnx.load(graph_path)
    quantized = {n.output[0] for n in m.graph.node if n.op_type == "QuantizeLinear"}
    nodes, count = [], 0
    for n in m.graph.node:
        nodes.append(n)
        if n.op_type == "DequantizeLinear" and n.input[0] in quantized:
            x, scale = n.output[0], n.input[1]
            n.output[0] = f"{x}.exact"
            nodes += [
                helper.make_node("RandomUniformLike", [f"{x}.exact"], [f"{x}.u"], low=0.0, high=3.0, dtype=TensorProto.FLOAT),
                helper.make_node("Floor", [f"{x}.u"], [f"{x}.f"]),
                helper.make_node("Sub", [f"{x}.f", "spread.one"], [f"{x}.sign"]),
                helper.make_node("Mul", [f"{x}.sign", "steps"], [f"{x}.steps"]),
                helper.make_node("Mul", [f"{x}.steps", scale], [f"{x}.delta"]),
                helper.make_node("Add", [f"{x}.exact", f"{x}.delta"], [x]),
            ]
            count += 1
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), "spread.one"))
    m.graph.input.append(helper.make_tensor_value_info("steps", TensorProto.FLOAT, []))
    onnx.save(m, out_path)
    return count


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=float, default=1.0)
    ap.add_argument("--trials", type=int, default=100)
    args = ap.parse_args(argv)
    golden = json.load(open(os.path.join(TINY, "model.json"), encoding="utf-8"))["golden"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "perturbed.onnx")
        count = perturbed(os.path.join(TINY, "model.onnx"), path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        exact_p = exact_e = moved_p = moved_e = 0.0
        for g in golden:
            ids = np.asarray([g["ids"]], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "steps": np.array(0.0, np.float32)}
            p0, e0 = sess.run(["probabilities", "embedding"], feed)
            head = len(g["embedding_head"])
            exact_p = max(exact_p, float(np.abs(p0[0] - g["probabilities"]).max()))
            exact_e = max(exact_e, float(np.abs(e0[0][:head] - g["embedding_head"]).max()))
            feed["steps"] = np.array(args.steps, np.float32)
            for _ in range(args.trials):
                p, e = sess.run(["probabilities", "embedding"], feed)
                moved_p = max(moved_p, float(np.abs(p - p0).max()))
                moved_e = max(moved_e, float(np.abs(e[0][:head] - e0[0][:head]).max()))
    print(f"{count} quantized activations, {len(golden)} golden texts, {args.trials} trials")
    print(f"unperturbed graph vs recorded: probabilities {exact_p:.2e}, embedding {exact_e:.2e}")
    print(f"moved by up to {args.steps:g} steps: probabilities {moved_p:.4f}, embedding {moved_e:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
