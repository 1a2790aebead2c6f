"""Unit tests of the model recipe: python -m unittest discover -s model/recipe/tests"""

import json
import os
import struct
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vigie_recipe import cache, corpora, e5, encode, evaluate, graph, net, retrieval, timing, train, vocab  # noqa: E402
from vigie_recipe.sources import sha256_file  # noqa: E402
import vocabcheck  # noqa: E402

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

    def test_frequency_choice_and_changed_share(self):
        with open(os.path.join(TINY, "tokenizer.json"), encoding="utf-8") as f:
            full = json.load(f)
        texts = ["merci service client", "merci beaucoup", "merci", "service"]
        from tokenizers import Tokenizer

        singles = set(vocabcheck.by_frequency(full, [], 0))
        self.assertTrue({0, 1, 2, 3} <= singles)
        kept = vocabcheck.by_frequency(full, texts, len(singles) + 2)
        self.assertEqual(len(kept), len(singles) + 2, "the budget is filled")
        ids = Tokenizer.from_str(json.dumps(full)).encode("merci", add_special_tokens=False).ids
        self.assertTrue(set(ids) <= set(kept), "the most frequent piece is kept")
        share, growth = vocabcheck.changed_share(full, vocab.prune(full, kept), texts)
        self.assertGreater(share, 0.0)
        self.assertGreater(growth, 0.0)
        everything = vocab.choose(full, texts, len(full["model"]["vocab"]))
        self.assertEqual(vocabcheck.changed_share(full, vocab.prune(full, everything), texts), (0.0, 0.0))

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


class ModelCache(unittest.TestCase):
    """A built model is reused by a later clone only if its fingerprint and every checksum match."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.models = os.path.join(self.tmp.name, "cache", "models")
        self.built = self._dist("first-clone", b"onnx bytes", "fp-1")

    def _dist(self, name, onnx_bytes, fp):
        out = os.path.join(self.tmp.name, name, "model", "dist")
        os.makedirs(os.path.join(out, "eval"))
        files = {"model.onnx": onnx_bytes, "tokenizer.json": b"{}", "eval/umsab-val.jsonl": b'{"text": "a"}\n', "eval/reviews-test.jsonl": b""}
        for f, data in files.items():
            with open(os.path.join(out, f), "wb") as fh:
                fh.write(data)
        card = {
            "inputs_fingerprint": fp,
            "files": {f: sha256_file(os.path.join(out, f)) for f in ("model.onnx", "tokenizer.json")},
            "eval_files": {f: sha256_file(os.path.join(out, f)) for f in ("eval/umsab-val.jsonl", "eval/reviews-test.jsonl")},
        }
        with open(os.path.join(out, "model.json"), "w") as fh:
            json.dump(card, fh)
        return out

    def test_a_later_clone_gets_the_same_files_back(self):
        cache.store(self.models, self.built, "fp-1")
        clone = os.path.join(self.tmp.name, "second-clone", "model", "dist")
        self.assertFalse(cache.up_to_date(clone, "fp-1"))
        self.assertTrue(cache.restore(self.models, clone, "fp-1"))
        self.assertTrue(cache.up_to_date(clone, "fp-1"))
        for f in ("model.onnx", "tokenizer.json", "model.json", "eval/umsab-val.jsonl", "eval/reviews-test.jsonl"):
            with open(os.path.join(clone, f), "rb") as a, open(os.path.join(self.built, f), "rb") as b:
                self.assertEqual(a.read(), b.read(), f)

    def test_other_inputs_are_not_served_from_the_cache(self):
        cache.store(self.models, self.built, "fp-1")
        clone = os.path.join(self.tmp.name, "second-clone", "model", "dist")
        self.assertFalse(cache.restore(self.models, clone, "fp-2"))
        self.assertFalse(os.path.exists(os.path.join(clone, "model.onnx")))

    def test_a_corrupted_entry_is_refused(self):
        entry = cache.store(self.models, self.built, "fp-1")
        with open(os.path.join(entry, "model.onnx"), "ab") as fh:
            fh.write(b"!")
        clone = os.path.join(self.tmp.name, "second-clone", "model", "dist")
        self.assertFalse(cache.restore(self.models, clone, "fp-1"))
        os.remove(os.path.join(entry, "eval", "reviews-test.jsonl"))
        self.assertFalse(cache.restore(self.models, clone, "fp-1"))

    def test_a_rebuild_replaces_the_entry_whole(self):
        cache.store(self.models, self.built, "fp-1")
        rebuilt = self._dist("rebuilt", b"other onnx bytes", "fp-1")
        entry = cache.store(self.models, rebuilt, "fp-1")
        with open(os.path.join(entry, "model.onnx"), "rb") as fh:
            self.assertEqual(fh.read(), b"other onnx bytes")
        self.assertEqual(sorted(os.listdir(self.models)), ["fp-1"], "no half-written entry left behind")


class BuildRecord(unittest.TestCase):
    def test_phases_are_timed_in_order_even_when_one_fails(self):
        phases = timing.Phases()
        with phases("1/8 fetching pinned sources"):
            pass
        with self.assertRaises(RuntimeError):
            with phases("caching frozen layers"):
                raise RuntimeError("boom")
        self.assertEqual(list(phases.seconds), ["fetching pinned sources", "caching frozen layers"])
        self.assertTrue(all(s >= 0 for s in phases.seconds.values()))
        self.assertGreaterEqual(phases.total(), sum(phases.seconds.values()) - 0.2)

    def test_the_cpu_is_named_with_its_vector_flags(self):
        info = timing.cpu()
        self.assertTrue(info["name"])
        self.assertEqual(info["logical_cpus"], os.cpu_count())
        self.assertTrue(set(info["flags"]) <= set(timing._FLAGS))


class RetrievalQuality(unittest.TestCase):
    def test_identical_embeddings_agree_fully_and_noise_lowers_both_figures(self):
        rng = np.random.default_rng(0)
        e = rng.normal(size=(200, 16)).astype(np.float32)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        same = retrieval.compare(e, e)
        self.assertAlmostEqual(same["mean_cosine_to_e5"], 1.0, places=4)
        self.assertEqual(same["neighbour_recall_at_10"], 1.0)
        noisy = e + 0.3 * rng.normal(size=e.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        worse = retrieval.compare(noisy, e)
        self.assertLess(worse["mean_cosine_to_e5"], 0.99)
        self.assertLess(worse["neighbour_recall_at_10"], 1.0)
        self.assertGreater(worse["neighbour_recall_at_10"], 0.0)

    def test_the_sample_is_fixed(self):
        self.assertEqual(retrieval.sample_indices(5000), retrieval.sample_indices(5000))
        self.assertEqual(len(set(retrieval.sample_indices(5000))), retrieval.SAMPLE)
        self.assertEqual(sorted(retrieval.sample_indices(30)), list(range(30)))


class LossWeights(unittest.TestCase):
    def test_a_weight_of_two_moves_the_network_like_a_text_seen_twice(self):
        import torch

        torch.manual_seed(0)
        enc = net.Encoder(50, 16, 2, 2, 32, 1e-5, 20)
        enc.dropout.p = 0.0  # the two batches differ in shape, so their dropout masks would differ
        train.choose_precision(enc, 1, "fp32")
        seqs = [[0, 5, 6, 2], [0, 7, 8, 9, 2]]
        cached = train.cache_lower(enc, seqs, [[0, 1]], 1, "test")
        a = copy_encoder(enc)
        b = copy_encoder(enc)
        # one batch [x0, x1] with x1 weighted 2, against the batch [x0, x1, x1] unweighted:
        # the same gradient direction up to the batch-mean normalisation (3 vs 2 rows).
        train.fine_tune(a, cached, np.asarray([0, 2]), None, 1, 1, 1e-3, 0.0, weights=np.asarray([1.0, 2.0]))
        seqs3 = seqs + [seqs[1]]
        cached3 = train.cache_lower(enc, seqs3, [[0, 1, 2]], 1, "test")
        train.fine_tune(b, cached3, np.asarray([0, 2, 2]), None, 1, 1, 1e-3, 0.0)
        # AdamW's first step moves each weight by lr * sign(grad) (up to eps): equal directions, equal steps.
        for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
            if name.endswith(".k.bias"):
                continue  # softmax ignores a bias shared by all keys: its gradient is rounding noise
            torch.testing.assert_close(pa, pb, atol=1e-6, rtol=0, msg=name)


class WeightAveraging(unittest.TestCase):
    def _setup(self):
        import torch

        torch.manual_seed(0)
        enc = net.Encoder(50, 16, 2, 2, 32, 1e-5, 20)
        train.choose_precision(enc, 1, "fp32")
        seqs = [[0, 5, 6, 2], [0, 7, 8, 9, 2], [0, 11, 2]]
        cached = train.cache_lower(enc, seqs, [[0, 1], [2]], 1, "test")
        return enc, cached

    def test_average_is_the_mean_of_the_trained_weights_from_the_chosen_epoch(self):
        import torch

        enc, cached = self._setup()
        seen = []

        def snapshot(epoch):
            seen.append({n: p.detach().clone() for n, p in enc.named_parameters() if p.requires_grad})

        _, average = train.fine_tune(enc, cached, np.asarray([0, 2, 1]), None, 1, 3, 1e-3, 0.0, after_epoch=snapshot, average_from=2)
        self.assertEqual(len(seen), 3)
        self.assertEqual(set(average), set(seen[0]), "only the trained weights are averaged")
        self.assertFalse(any(n.startswith("layers.0.") or n.startswith("word.") for n in average), "frozen weights are not averaged")
        moved = False
        for n, w in average.items():
            torch.testing.assert_close(w, (seen[1][n] + seen[2][n]) / 2, atol=1e-6, rtol=0, msg=n)
            moved |= not torch.equal(seen[1][n], seen[2][n])
        self.assertTrue(moved, "the two averaged epochs differ")
        # the network keeps the last epoch's weights; swapping the average in, then back, restores them
        params = dict(enc.named_parameters())
        last = train.swap_in(enc, average)
        for n in average:
            torch.testing.assert_close(last[n], seen[2][n], atol=0, rtol=0, msg=n)
            torch.testing.assert_close(params[n].detach(), average[n], atol=0, rtol=0, msg=n)
        train.swap_in(enc, last)
        for n in average:
            torch.testing.assert_close(params[n].detach(), seen[2][n], atol=0, rtol=0, msg=n)

    def test_no_average_without_two_epochs_to_average(self):
        for average_from, epochs in [(0, 3), (3, 3), (1, 1)]:
            enc, cached = self._setup()
            _, average = train.fine_tune(enc, cached, np.asarray([0, 2, 1]), None, 1, epochs, 1e-3, 0.0, average_from=average_from)
            self.assertIsNone(average, (average_from, epochs))


class CustomerService(unittest.TestCase):
    def test_reads_the_shipped_training_comments(self):
        folder = os.path.join(os.path.dirname(__file__), "..", "..", "sentiment", "train")
        rows = corpora.customer_service(folder)
        self.assertGreaterEqual(len(rows), 400)
        self.assertEqual({e.lang for e in rows}, {"fr", "en"})
        self.assertEqual({e.label for e in rows}, {corpora.NEG, corpora.NEU, corpora.POS})
        self.assertTrue(all(e.split == "train" and e.corpus == "customer-service" and e.text for e in rows))

    def test_a_bad_label_names_its_line(self):
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "fr.jsonl"), "w") as f:
                f.write('{"text": "ok", "label": "positive", "lang": "fr"}\n{"text": "bof", "label": "mixed", "lang": "fr"}\n')
            with self.assertRaises(SystemExit) as e:
                corpora.customer_service(d)
            self.assertIn("fr.jsonl:2", str(e.exception))


def copy_encoder(enc):
    import copy

    return copy.deepcopy(enc)


if __name__ == "__main__":
    unittest.main()
