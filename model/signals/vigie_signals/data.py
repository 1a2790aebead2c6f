"""Reading and checking the labelled comments (data/GUIDE.md).

    python -m vigie_signals.data check model/signals/data

checks every file, names the file, line and field of each error, refuses texts found
twice (after folding case, accents, spaces and punctuation, also across train and
held-out) and prints the counts per language, intent and signal."""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass

from .labels import INTENTS, LANGS, SECTORS, SIGNALS, URGENT_SIGNALS

FIELDS = {"text", "lang", "sector", "intent", "signals", "lookalike"}


@dataclass(frozen=True)
class Example:
    text: str
    lang: str
    sector: str
    intent: str
    signals: tuple[str, ...]
    lookalike: bool
    source: str  # file:line

    @property
    def urgent(self) -> bool:
        return any(s in URGENT_SIGNALS for s in self.signals)


class DataError(Exception):
    pass


def fold(text: str) -> str:
    t = unicodedata.normalize("NFKD", text.lower())
    t = "".join(c for c in t if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", " ", t).strip()


def parse_line(raw: str, where: str) -> Example:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: not JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: not a JSON object")
    extra = set(obj) - FIELDS
    if extra:
        raise DataError(f"{where}: unknown field {sorted(extra)[0]!r}")
    for key in ("text", "lang", "sector", "intent", "signals"):
        if key not in obj:
            raise DataError(f"{where}: field {key!r} missing")
    text = obj["text"]
    if not isinstance(text, str) or not 2 <= len(text.strip()) <= 600:
        raise DataError(f"{where}: field 'text' must be a string of 2 to 600 characters")
    if obj["lang"] not in LANGS:
        raise DataError(f"{where}: field 'lang' is {obj['lang']!r}, expected one of {', '.join(LANGS)}")
    if obj["sector"] not in SECTORS:
        raise DataError(f"{where}: field 'sector' is {obj['sector']!r}, expected one of {', '.join(SECTORS)}")
    if obj["intent"] not in INTENTS:
        raise DataError(f"{where}: field 'intent' is {obj['intent']!r}, not an intent of GUIDE.md")
    sigs = obj["signals"]
    if not isinstance(sigs, list) or not all(isinstance(s, str) for s in sigs):
        raise DataError(f"{where}: field 'signals' must be a list of strings")
    for s in sigs:
        if s not in SIGNALS:
            raise DataError(f"{where}: field 'signals' has {s!r}, not a signal of GUIDE.md")
    if len(set(sigs)) != len(sigs):
        raise DataError(f"{where}: field 'signals' repeats a signal")
    look = obj.get("lookalike", False)
    if not isinstance(look, bool):
        raise DataError(f"{where}: field 'lookalike' must be true or false")
    if look and any(s in URGENT_SIGNALS for s in sigs):
        raise DataError(f"{where}: a look-alike carries no urgent signal")
    return Example(text, obj["lang"], obj["sector"], obj["intent"], tuple(s for s in SIGNALS if s in sigs), look, where)


def read_dir(path: str) -> list[Example]:
    out: list[Example] = []
    names = sorted(n for n in os.listdir(path) if n.endswith(".jsonl"))
    if not names:
        raise DataError(f"{path}: no .jsonl file")
    for name in names:
        full = os.path.join(path, name)
        with open(full, encoding="utf-8") as f:
            for i, raw in enumerate(f, 1):
                if raw.strip():
                    out.append(parse_line(raw, f"{full}:{i}"))
    return out


def read_splits(root: str) -> tuple[list[Example], list[Example]]:
    train = read_dir(os.path.join(root, "train"))
    heldout = read_dir(os.path.join(root, "heldout"))
    seen: dict[str, str] = {}
    for ex in train + heldout:
        key = fold(ex.text)
        if key in seen:
            raise DataError(f"{ex.source}: same text as {seen[key]}")
        seen[key] = ex.source
    return train, heldout


def summary(name: str, rows: list[Example]) -> str:
    lines = [f"{name}: {len(rows)} comments, " + ", ".join(f"{l} {sum(r.lang == l for r in rows)}" for l in LANGS)]
    urgent = Counter(r.lang for r in rows if r.urgent)
    look = Counter(r.lang for r in rows if r.lookalike)
    lines.append("  urgent " + ", ".join(f"{l} {urgent[l]}" for l in LANGS) + "; look-alikes " + ", ".join(f"{l} {look[l]}" for l in LANGS))
    sectors = Counter(r.sector for r in rows)
    lines.append("  sectors " + ", ".join(f"{s} {sectors[s]}" for s in SECTORS))
    by = Counter((s, r.lang) for r in rows for s in r.signals)
    lines.append("  signals " + ", ".join(f"{s} {by[(s, 'fr')]}/{by[(s, 'en')]}" for s in SIGNALS))
    ib = Counter((r.intent, r.lang) for r in rows)
    lines.append("  intents " + ", ".join(f"{i} {ib[(i, 'fr')]}/{ib[(i, 'en')]}" for i in INTENTS))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("check", "check-files"):
        print("usage: python -m vigie_signals.data check DATA_DIR | check-files FILE...", file=sys.stderr)
        return 2
    try:
        if argv[0] == "check":
            train, heldout = read_splits(argv[1])
            print(summary("train", train))
            print(summary("heldout", heldout))
        else:
            rows: list[Example] = []
            seen: dict[str, str] = {}
            for p in argv[1:]:
                with open(p, encoding="utf-8") as f:
                    for i, raw in enumerate(f, 1):
                        if raw.strip():
                            ex = parse_line(raw, f"{p}:{i}")
                            key = fold(ex.text)
                            if key in seen:
                                raise DataError(f"{ex.source}: same text as {seen[key]}")
                            seen[key] = ex.source
                            rows.append(ex)
            print(summary(" ".join(argv[1:]), rows))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
