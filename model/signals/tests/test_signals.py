"""Unit tests of the signal heads recipe: the data checks, the heads' training, calibration
and thresholds, and a whole build on the committed tiny model (seconds)."""

import io
import json
import os
import shutil
import tempfile
import unittest
from contextlib import redirect_stdout

import numpy as np

from vigie_signals import build, data, heads
from vigie_signals.labels import INTENTS, SIGNALS

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TINY = os.path.join(ROOT, "model", "testdata", "tiny")


def row(text, **kw):
    base = {"text": text, "lang": "fr", "sector": "food", "intent": "praise", "signals": []}
    base.update(kw)
    return json.dumps(base, ensure_ascii=False)


class DataChecks(unittest.TestCase):
    def test_errors_name_the_file_line_and_field(self):
        cases = [
            ("not json", "not JSON"),
            (row("ok", lang="de"), "field 'lang' is 'de'"),
            (row("ok", intent="joy"), "field 'intent' is 'joy'"),
            (row("ok", signals=["fire"]), "field 'signals' has 'fire'"),
            (row("x"), "field 'text' must be a string of 2 to 600 characters"),
            (row("ok", signals=["churn", "churn"]), "repeats a signal"),
            (row("ça tue", signals=["safety_risk"], lookalike=True), "a look-alike carries no urgent signal"),
            (json.dumps({"text": "ok", "lang": "fr"}), "field 'sector' missing"),
        ]
        for line, expected in cases:
            with self.assertRaises(data.DataError) as e:
                data.parse_line(line, "train/a.jsonl:7")
            self.assertIn("train/a.jsonl:7", str(e.exception))
            self.assertIn(expected, str(e.exception))

    def test_the_same_text_twice_is_refused_across_splits(self):
        with tempfile.TemporaryDirectory() as d:
            for split, text in (("train", "Ce gâteau est une TUERIE !!"), ("heldout", "ce gateau est une tuerie")):
                os.makedirs(os.path.join(d, split))
                with open(os.path.join(d, split, "a.jsonl"), "w", encoding="utf-8") as f:
                    f.write(row(text, lookalike=True) + "\n")
            with self.assertRaises(data.DataError) as e:
                data.read_splits(d)
            self.assertIn("same text as", str(e.exception))

    def test_urgent_follows_from_the_signals(self):
        self.assertTrue(data.parse_line(row("je porte plainte", signals=["legal_threat"], intent="legal_threat"), "x").urgent)
        self.assertFalse(data.parse_line(row("je pars chez Free", signals=["churn"], intent="complaint_angry"), "x").urgent)

    def test_the_committed_data_is_valid_and_splits_do_not_overlap(self):
        train, heldout = data.read_splits(os.path.join(ROOT, "model", "signals", "data"))
        self.assertGreaterEqual(len(train), 1500)
        self.assertGreaterEqual(len(heldout), 400)
        for rows in (train, heldout):
            for lang in ("fr", "en"):
                self.assertTrue(any(r.lang == lang and r.urgent for r in rows))
            self.assertEqual({r.intent for r in rows}, set(INTENTS))
            self.assertEqual({s for r in rows for s in r.signals}, set(SIGNALS))


class Heads(unittest.TestCase):
    def synthetic(self, n=400, dim=16, seed=1):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y_sig = np.stack([(x[:, 0] > 0.3), (x[:, 1] < -0.3)], 1).astype(np.float32)
        y_int = (x[:, 2] > 0).astype(np.int64) + 2 * (x[:, 3] > 0)
        return x, y_sig, y_int

    def test_linear_heads_learn_separable_labels(self):
        x, y_sig, y_int = self.synthetic()
        s = heads.fit_signals(x, y_sig, 1e-4)
        i = heads.fit_intent(x, y_int, 1e-4)
        self.assertGreater(((s.logits(x) > 0) == (y_sig > 0)).mean(), 0.9)
        self.assertGreater((i.logits(x).argmax(1) == y_int).mean(), 0.9)
        # deterministic: the same inputs give the same weights
        np.testing.assert_array_equal(s.weight, heads.fit_signals(x, y_sig, 1e-4).weight)

    def test_folds_are_stratified_and_cover_every_row_once(self):
        strata = np.array(["a"] * 50 + ["b"] * 10)
        parts = heads.folds(60, 5, strata)
        self.assertEqual(sorted(np.concatenate(parts).tolist()), list(range(60)))
        for p in parts:
            self.assertEqual((strata[p] == "b").sum(), 2)

    def test_platt_scaling_calibrates_overconfident_logits(self):
        rng = np.random.default_rng(0)
        p_true = rng.uniform(size=20000)
        gold = (rng.uniform(size=20000) < p_true).astype(np.float64)
        logits = 4.0 * np.log(p_true / (1 - p_true))  # four times too confident
        a, b = heads.platt(logits, gold)
        self.assertAlmostEqual(a, 0.25, delta=0.03)
        self.assertAlmostEqual(b, 0.0, delta=0.05)

    def test_the_threshold_reaches_the_precision_asked_with_most_recall(self):
        probs = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
        gold = np.array([1, 1, 0, 1, 1, 0, 0, 1])
        t = heads.pick_threshold(probs, gold, 0.8)
        self.assertEqual(t, 0.6)  # 4 of the 5 at or above 0.6 are positive
        pred = probs >= t
        self.assertGreaterEqual(gold[pred].mean(), 0.8)


class TinyBuild(unittest.TestCase):
    def test_a_build_on_the_tiny_model_is_complete_reproducible_and_cached(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "data")
            texts = {
                "train": [("j'ai été intoxiqué après le repas", ["safety_risk"], "safety_risk"), ("merci pour la livraison rapide", [], "praise"),
                          ("mon avocat vous contactera", ["legal_threat"], "legal_threat"), ("vous ouvrez quand ?", [], "availability_hours"),
                          ("je résilie demain", ["churn"], "complaint_angry"), ("super produit", [], "praise")] * 1,
                "heldout": [("je vais saisir le tribunal", ["legal_threat"], "legal_threat"), ("trop bon ce gâteau", [], "praise")],
            }
            for split, rows in texts.items():
                os.makedirs(os.path.join(src, split))
                with open(os.path.join(src, split, "a.jsonl"), "w", encoding="utf-8") as f:
                    for t, s, i in rows:
                        f.write(row(t, signals=s, intent=i) + "\n")
            model = os.path.join(d, "model")
            shutil.copytree(TINY, model, ignore=shutil.ignore_patterns("signals"))
            cache = os.path.join(d, "cache")
            args = ["--model", model, "--data", src, "--cache-root", cache, "--threads", "1"]
            with redirect_stdout(io.StringIO()):
                self.assertEqual(build.main(args), 0)
            out = os.path.join(model, "signals")
            with open(os.path.join(out, "heads.json"), encoding="utf-8") as f:
                card = json.load(f)
            self.assertEqual([s["name"] for s in card["signals"]], list(SIGNALS))
            self.assertEqual(card["intent"]["labels"], list(INTENTS))
            self.assertEqual(card["examples"]["count"], 6)
            emb = np.fromfile(os.path.join(out, "examples.f32"), dtype="<f4").reshape(6, card["dim"])
            np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
            # the golden outputs are what the card's weights compute
            g = card["golden"][0]
            e = np.array(g["embedding"], dtype=np.float64)
            for j, s in enumerate(card["signals"]):
                z = np.dot(s["weight"], e) + s["bias"]
                a, b = s["platt"]
                self.assertAlmostEqual(1 / (1 + np.exp(-(a * z + b))), g["signals"][j], places=5)
            # up to date: nothing rebuilt; removed: restored from the cache
            buf = io.StringIO()
            with redirect_stdout(buf):
                self.assertEqual(build.main(args), 0)
            self.assertIn("up to date", buf.getvalue())
            shutil.rmtree(out)
            buf = io.StringIO()
            with redirect_stdout(buf):
                self.assertEqual(build.main(args), 0)
            self.assertIn("restored from", buf.getvalue())
            with open(os.path.join(out, "heads.json"), encoding="utf-8") as f:
                self.assertEqual(json.load(f)["version"], card["version"])


if __name__ == "__main__":
    unittest.main()
