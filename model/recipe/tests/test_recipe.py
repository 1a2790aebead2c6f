"""Unit tests of the model recipe: python -m unittest discover -s model/recipe/tests"""

import json
import os
import struct
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vigie_recipe import e5, encode, evaluate, graph, net, train, vocab  # noqa: E402

TINY = os.path.join(os.path.dirname(__file__), "..", "..", "testdata", "tiny")


class Q4Decoding(unittest.TestCase):
    def test_a_block_is_scale_times_nibble_minus_eight(self):
        scale = np.float16(0.5).tobytes()
        # byte j holds weight j (low nibble) and weight j + 16 (high nibble)
        qs = bytes([(j & 0x0F) | ((15 - j) << 4) for j in range(16)])
        row = e5._dequant_q4(scale + qs, 1, 32)[0]
        want = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
        np.testing.assert_allclose(row, want)

    def test_rejects_other_files(self):
        with self.assertRaises(ValueError):
            e5.load_bytes(b"GGUF" + struct.pack("<I", 1))


class Truncation(unittest.TestCase):
    def test_head_and_tail_are_kept(self):
        self.assertEqual(encode.cut(list(range(10)), 7), ([0, 1, 2, 8, 9], True))
        self.assertEqual(encode.cut([1, 2, 3], 5), ([1, 2, 3], False))


class VocabularyPruning(unittest.TestCase):
    def test_pruned_tokenizer_keeps_specials_and_segments_kept_words_alike(self):
        from tokenizers import Tokenizer

        with open(os.path.join(TINY, "tokenizer.json"), encoding="utf-8") as f:
            full = json.load(f)
        words = ["merci", "service", "client"]
        kept = vocab.choose(full, words, len(full["model"]["vocab"]) - 100)
        pruned = vocab.prune(full, kept)
        self.assertEqual([p for p, _ in pruned["model"]["vocab"][:4]], ["<s>", "<pad>", "</s>", "<unk>"])
        self.assertEqual(len(pruned["model"]["vocab"]), len(kept))
        a = Tokenizer.from_str(json.dumps(full)).encode("merci service client", add_special_tokens=False)
        b = Tokenizer.from_str(json.dumps(pruned)).encode("merci service client", add_special_tokens=False)
        self.assertEqual(a.tokens, b.tokens)

    def test_latin_filter(self):
        self.assertTrue(vocab._latin_or_symbol("\u2581équipe"))
        self.assertTrue(vocab._latin_or_symbol("\U0001F600"))
        self.assertFalse(vocab._latin_or_symbol("\u2581\u043f\u0440\u0438"))


class Metrics(unittest.TestCase):
    # The same cases as model/src/metrics.rs: both sides must report the same figures.
    def test_macro_f1_averages_only_gold_labels(self):
        gold = np.array([0, 0, 2, 2])
        probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.1, 0.2, 0.7]])
        m = evaluate.metrics(gold, probs)
        self.assertAlmostEqual(m["macro_f1"], (2 / 3 + 1) / 2)
        self.assertEqual(m["accuracy"], 0.75)
        self.assertEqual(m["binary_accuracy"], 0.75)

    def test_ece(self):
        gold = np.array([0, 2])
        probs = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]])
        self.assertAlmostEqual(evaluate.ece(gold, probs), 0.4, places=6)

    def test_precision_thresholds(self):
        gold = np.array([0, 0, 1, 0, 2])
        probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
        t = evaluate.precision_thresholds(gold, probs, targets=(0.75, 1.0))
        self.assertEqual(t["negative"]["precision_100"], 0.8)
        self.assertEqual(t["negative"]["precision_75"], 0.6)

    def test_temperature_rescaling_keeps_the_argmax(self):
        p = np.array([[0.7, 0.2, 0.1]])
        r = evaluate.rescale(p, 2.0)
        self.assertEqual(r.argmax(), 0)
        self.assertAlmostEqual(float(r.sum()), 1.0, places=6)
        self.assertLess(r[0, 0], 0.7)


class GraphParity(unittest.TestCase):
    def test_onnx_graph_computes_what_the_torch_network_computes(self):
        import onnx
        import torch

        torch.manual_seed(0)
        enc = net.Encoder(50, 16, 2, 2, 32, 1e-5, 20)
        with torch.no_grad():
            for p in enc.parameters():
                p.normal_(0, 0.3)
        enc.eval()
        state = {k: v.detach().numpy() for k, v in enc.state_dict().items()}
        model = graph.build(state, 2, 1e-5, 20, temperature=1.5)
        ids = np.array([[0, 5, 9, 13, 2], [0, 7, 2, 1, 1]], dtype=np.int64)
        mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=np.int64)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.onnx")
            onnx.save(model, path)
            probs, emb = evaluate.session(path, 1).run(["probabilities", "embedding"], {"input_ids": ids, "attention_mask": mask})
        # the graph stores word embeddings int8 per row: compare against the same rounding
        q, s = graph.quantize_rows(state["word.weight"])
        with torch.no_grad():
            enc.word.weight.copy_(torch.from_numpy(q.astype(np.float32) * s))
            logits, want_emb = enc(torch.from_numpy(ids), torch.from_numpy(mask))
        np.testing.assert_allclose(probs, (logits / 1.5).softmax(-1).numpy(), atol=1e-5)
        np.testing.assert_allclose(emb, want_emb.numpy(), atol=1e-5)


class TrainingPrecision(unittest.TestCase):
    def setUp(self):
        import torch

        torch.manual_seed(0)
        self.enc = net.Encoder(50, 16, 2, 2, 32, 1e-5, 20)
        self.addCleanup(train.choose_precision, self.enc, 1, "fp32")

    def test_float32_when_asked(self):
        report = train.choose_precision(self.enc, 1, "fp32")
        self.assertEqual(report["chosen"], "fp32")
        self.assertEqual(train.precision(), "fp32")

    def test_fastest_times_both_on_a_copy_leaving_the_network_and_the_generator_alone(self):
        import torch

        before = {k: v.clone() for k, v in self.enc.state_dict().items()}
        torch.manual_seed(7)
        want = torch.rand(3)
        torch.manual_seed(7)
        report = train.choose_precision(self.enc, 1, "fastest", batch=4, tokens=8, rounds=1)
        self.assertTrue(torch.equal(torch.rand(3), want), "timing drew from the global generator")
        self.assertTrue(all(p.grad is None for p in self.enc.parameters()))
        for k, v in self.enc.state_dict().items():
            self.assertTrue(torch.equal(v, before[k]), k)
        self.assertEqual(train.precision(), report["chosen"])
        if report["bf16_supported"]:
            ms = report["step_ms"]
            self.assertGreater(ms["fp32"], 0)
            self.assertGreater(ms["bf16"], 0)
            self.assertEqual(report["chosen"] == "bf16", ms["fp32"] / ms["bf16"] >= train.BF16_MARGIN)
        else:
            self.assertEqual(report["chosen"], "fp32")

    def test_supported_takes_bfloat16_wherever_the_cpu_has_it(self):
        report = train.choose_precision(self.enc, 1)
        self.assertEqual(report["chosen"], "bf16" if train.bf16_supported() else "fp32")
        self.assertNotIn("step_ms", report)

    def test_unknown_precision_is_refused(self):
        with self.assertRaises(ValueError):
            train.choose_precision(self.enc, 1, "fp16")


if __name__ == "__main__":
    unittest.main()
