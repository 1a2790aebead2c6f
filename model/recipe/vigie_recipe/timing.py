"""Phase durations and the CPU a build ran on, printed as the build goes and kept in model.json."""

from __future__ import annotations

import contextlib
import os
import platform
import time

# Instruction-set flags that decide which kernels PyTorch and ONNX Runtime use.
_FLAGS = ("avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Phases:
    """`with phases("3/8 pruning the vocabulary"):` logs the phase, then its duration."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        _log(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - t0
            short = name.split(" ", 1)[1] if name[:1].isdigit() else name
            self.seconds[short] = round(took, 1)
            _log(f"    {short}: {took:.0f} s")

    def total(self) -> float:
        return round(time.perf_counter() - self.started, 1)


def cpu() -> dict:
    """Name, logical CPUs and the relevant instruction-set flags of this machine."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    name = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                if key == "flags" and name:
                    break
    except OSError:
        pass
    isa_caps = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS") if k in os.environ}
    out = {"name": name, "logical_cpus": os.cpu_count(), "flags": [f for f in _FLAGS if f in flags]}
    if isa_caps:
        out["isa_limits"] = isa_caps
    return out
