"""A built model kept outside the clone, keyed by the fingerprint of its inputs.

`<cache>/models/<fingerprint>/` holds model.onnx, tokenizer.json, model.json and eval/;
any later clone on the same machine with the same inputs copies it instead of building,
after checking every file against the checksums model.json records.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from .sources import sha256_file


def default_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vigie")


def _card(folder: str) -> dict:
    with open(os.path.join(folder, "model.json"), encoding="utf-8") as f:
        return json.load(f)


def _complete(folder: str, fp: str) -> bool:
    """model.json of `folder` has fingerprint `fp` and every file it lists matches its checksum."""
    path = os.path.join(folder, "model.json")
    if not os.path.exists(path):
        return False
    try:
        card = _card(folder)
    except ValueError:
        return False
    if card.get("inputs_fingerprint") != fp:
        return False
    listed = {**card.get("files", {}), **card.get("eval_files", {})}
    return bool(listed) and all(os.path.exists(os.path.join(folder, f)) and sha256_file(os.path.join(folder, f)) == s for f, s in listed.items())


def up_to_date(out: str, fp: str) -> bool:
    return _complete(out, fp)


def restore(models: str, out: str, fp: str) -> bool:
    """Copies the cached model of `fp` into `out` if there is a valid one; True if it did."""
    src = os.path.join(models, fp)
    if not _complete(src, fp):
        return False
    os.makedirs(out, exist_ok=True)
    card = _card(src)
    for name in [*card["files"], *card.get("eval_files", {}), "model.json"]:
        dst = os.path.join(out, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(src, name), dst + ".part")
        os.replace(dst + ".part", dst)
    return _complete(out, fp)


def reuse(out: str, models: str, fp: str, what: str, log) -> bool:
    """True if `out` already holds the `what` of fingerprint `fp`, or it was copied there from
    the cache under `models`; says which through `log`."""
    if up_to_date(out, fp):
        log(f"{what} in {out} is up to date (inputs fingerprint {fp[:12]}); nothing to do")
        return True
    if restore(models, out, fp):
        log(f"{what} of these inputs (fingerprint {fp[:12]}) copied from {os.path.join(models, fp)}, checksums verified; --force rebuilds")
        return True
    return False


def store(models: str, out: str, fp: str) -> str:
    """Copies the model built in `out` to the cache (atomically: a half-written entry is never seen)."""
    os.makedirs(models, exist_ok=True)
    card = _card(out)
    tmp = tempfile.mkdtemp(prefix=f".{fp[:12]}-", dir=models)
    for name in [*card["files"], *card.get("eval_files", {}), "model.json"]:
        os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
        shutil.copyfile(os.path.join(out, name), os.path.join(tmp, name))
    dst = os.path.join(models, fp)
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.replace(tmp, dst)
    return dst
