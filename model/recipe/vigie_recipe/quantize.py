"""Int8 quantization with nothing decided per batch.

Projection MatMuls: static QDQ, per-channel int8 weights and uint8 activations whose scales
come from a MinMax calibration on training texts run one at a time. Feed-forward output
MatMuls: int8 weights only (their GELU inputs defeat a per-tensor activation scale).
Fixed scales make a text's result independent of its batch-mates (dynamic quantization
picks one scale per padded batch and flips labels). Attention MatMuls and the head stay float.
"""

from __future__ import annotations

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from tqdm import tqdm


class _OneByOne(CalibrationDataReader):
    def __init__(self, seqs: list[list[int]]):
        self._it = iter(seqs)
        self._bar = tqdm(total=len(seqs), desc="calibrating activations", unit="text", mininterval=2.0)

    def get_next(self):
        s = next(self._it, None)
        if s is None:
            self._bar.close()
            return None
        self._bar.update(1)
        ids = np.asarray([s], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def quantize(fp32_path: str, int8_path: str, calibration: list[list[int]]) -> None:
    import onnx

    from . import graph

    fp32 = onnx.load(fp32_path)
    nodes = graph.static_matmuls(fp32)
    quantize_static(
        fp32_path,
        int8_path,
        _OneByOne(calibration),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        nodes_to_quantize=nodes,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}, "MatMulConstBOnly": True},
    )
    q = onnx.load(int8_path)
    graph.quantize_weights_only(q, graph.weight_only_matmuls(fp32))
    onnx.checker.check_model(q)
    onnx.save(q, int8_path)
