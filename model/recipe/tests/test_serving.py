"""Unit tests of the served-graph compiler: python -m unittest discover -s model/recipe/tests"""

import json
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vigie_recipe import encode, evaluate  # noqa: E402
from vigie_recipe.tiny import TEXTS  # noqa: E402
from vigie_serving import build, graph  # noqa: E402

TINY = os.path.join(os.path.dirname(__file__), "..", "..", "testdata", "tiny")


def codes(x, step, zero):
    """What Mul + QuantizeLinear (scale 1, round half to even, saturate) compute."""
    return np.clip(np.round(x / step + zero), 0, 255)


class Quantization(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(3)
        self.x = rng.normal(size=(200, 48)).astype(np.float32)
        self.x[:, 5] *= 40  # an outlier channel, as LayerNorm outputs have
        self.x[:, 7] = np.abs(self.x[:, 7])  # a channel that is never negative
        self.w = rng.normal(size=(48, 24)).astype(np.float32) / 7
        self.b = rng.normal(size=24).astype(np.float32)
        self.range = graph.Range(self.x.min(0), self.x.max(0))

    def product(self, step, zero):
        wq, wscale, bias = graph.quantize_layer(self.w, self.b, step, zero)
        self.assertTrue(np.all(np.abs(wq.astype(int)) <= graph.WEIGHT_MAX))
        return (codes(self.x, step, zero) @ wq.astype(np.float64)) * wscale + bias

    def error(self, alpha, shared):
        want = self.x @ self.w + self.b
        step, zero = graph._steps(self.range, self.w, alpha, shared_zero=shared)
        return np.abs(self.product(step, zero) - want).mean() / np.abs(want).mean()

    def test_the_integer_product_matches_the_float_one(self):
        for shared in (True, False):
            for alpha in (0.5, 0.8, 1.0):
                self.assertLess(self.error(alpha, shared), 0.04, f"shared zero {shared}, alpha {alpha}")

    def test_steps_per_channel_beat_one_step_for_the_tensor(self):
        # alpha 0 leaves the outlier channel's range to every channel
        self.assertLess(3 * self.error(0.8, True), self.error(0.0, True))

    def test_every_calibrated_value_fits_the_codes(self):
        for shared in (True, False):
            step, zero = graph._steps(self.range, self.w, 0.8, shared_zero=shared)
            raw = self.x / step + zero
            self.assertGreaterEqual(raw.min(), -0.5)
            self.assertLessEqual(raw.max(), 255.5)
            if shared:
                self.assertEqual(len(set(zero.tolist())), 1)

    def test_the_outlier_channel_gets_a_wider_step_than_the_others(self):
        step, _ = graph._steps(self.range, self.w, 0.8, shared_zero=True)
        self.assertGreater(step[5], 5 * np.median(step))


class TinyModel(unittest.TestCase):
    """Compiles the Rust crate's tiny test model (model/testdata/tiny) and runs it."""

    @classmethod
    def setUpClass(cls):
        import onnx
        from tokenizers import Tokenizer

        with open(os.path.join(TINY, "model.json"), encoding="utf-8") as f:
            cls.card = json.load(f)
        cls.trained = graph.read_trained(onnx.load(os.path.join(TINY, "model.onnx")))
        tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
        cls.seqs = encode.encode(tok, TEXTS, cls.card["max_tokens"])
        cls.tmp = tempfile.TemporaryDirectory()
        cls.float_path = os.path.join(cls.tmp.name, "float.onnx")
        onnx.save(graph.build(cls.trained, cls.card["max_tokens"], None), cls.float_path)
        cls.ranges = build._ranges(evaluate.session(cls.float_path, 1), cls.seqs)
        cls.served_path = os.path.join(cls.tmp.name, "served.onnx")
        onnx.save(graph.build(cls.trained, cls.card["max_tokens"], cls.ranges, 0.8), cls.served_path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_weights_are_read_back_as_the_trained_graph_serves_them(self):
        self.assertEqual((self.trained.layers, self.trained.heads, self.trained.hidden), (2, 2, 32))
        trained, _ = evaluate.run(evaluate.session(os.path.join(TINY, "model.onnx"), 1), self.seqs)
        floats, _ = evaluate.run(evaluate.session(self.float_path, 1), self.seqs)
        # the trained graph quantizes activations too: close, not equal
        self.assertLess(np.abs(trained - floats).max(), 0.05)

    def test_the_int8_graph_follows_the_float_graph(self):
        floats, femb = evaluate.run(evaluate.session(self.float_path, 1), self.seqs)
        served, semb = evaluate.run(evaluate.session(self.served_path, 1), self.seqs)
        self.assertLess(np.abs(served - floats).max(), 0.05)
        self.assertGreater(float((femb * semb).sum(1).min()), 0.98)

    def test_batch_mates_change_nothing(self):
        sess = evaluate.session(self.served_path, 2)
        one, _ = evaluate.run(sess, self.seqs, batch=1)
        mixed, _ = evaluate.run(sess, self.seqs, batch=len(self.seqs), sort=False)
        self.assertLess(np.abs(one - mixed).max(), 1e-5)

    def test_every_encoder_matmul_is_int8_and_survives_the_optimiser(self):
        report = build.fusion_report(self.served_path, self.served_path, os.path.join(TINY, "model.onnx"))
        after = report["served_after_optimiser"]
        self.assertEqual(after["MatMulIntegerToFloat"], 4 * self.trained.layers)
        self.assertEqual(after["MultiHeadAttention"], self.trained.layers)
        self.assertEqual(after["LayerNormalization"], 2 * self.trained.layers + 1)
        # the float MatMuls left are the two of the sentiment head, made Gemm by the optimiser
        self.assertNotIn("MatMul", after)
        self.assertIn("Identity", report["changed_by_optimiser"])


if __name__ == "__main__":
    unittest.main()
