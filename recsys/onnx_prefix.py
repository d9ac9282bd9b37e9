"""The frozen conv blocks of an FCN run by ONNX Runtime: the same feature maps, faster on a CPU.

Most of a whole-track ranking is the first conv blocks at full time resolution (the frozen prefix
whose output :class:`recsys.features.FeatureStore` caches). ONNX Runtime's CPU kernels fold each batch
norm into its convolution and fuse the ReLU; measured side by side with the other ways of running the
same blocks (``python benchmarks/ranking_bench.py``) it was the fastest, several times faster than
PyTorch's eager modules, with feature maps equal to float rounding (the logits within 1e-5).

The blocks are exported from the model in memory (TorchScript-based exporter, dynamic batch and
time axes) once per distinct prefix and process, and the session is kept for the next call.
"""

from __future__ import annotations

import copy
import io
import threading
import warnings
from collections import OrderedDict

import numpy as np
import torch

from recsys.model import FCN

#: Sessions kept ready per process (in use: the shared model's prefix for rankings, its whole stack of
#: blocks for explanations).
SESSIONS_KEPT = 4
OPSET = 17

_sessions: OrderedDict[str, OnnxBlocks] = OrderedDict()
_lock = threading.Lock()


class OnnxBlocks:
    """The first ``depth`` conv blocks of ``model`` (eval mode) as an ONNX Runtime session.

    Call it with the normalised model input ``[batch, 1, n_mels, frames]`` (float32, what
    :meth:`recsys.model.FCN.spectrogram` returns) to get ``model.block_features(input, depth)``
    ``[batch, channels, n_mels / 2^depth, frames / 2^depth]`` as float32 NumPy.
    """

    def __init__(self, model: FCN, depth: int) -> None:
        import onnxruntime

        blocks = copy.deepcopy(model.blocks[:depth]).to("cpu", torch.float32).eval()
        example = torch.zeros(1, 1, model.args.n_mels, 64)
        graph = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation notices say nothing about this graph
            torch.onnx.export(
                blocks, (example,), graph, input_names=["input"], output_names=["features"],
                dynamic_axes={"input": {0: "batch", 3: "frames"}, "features": {0: "batch", 3: "steps"}},
                opset_version=OPSET, dynamo=False,
            )  # fmt: skip
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        # Its threads sleep when a run ends instead of spinning for the next one: callers run PyTorch
        # between runs (mixing the next perturbations, the blocks after a cached prefix), and spinning
        # threads took the cores from it (source explanations and cold rankings ran 5–7 % slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            graph.getvalue(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, model_input: torch.Tensor | np.ndarray) -> np.ndarray:
        """Feature maps ``[batch, channels, rows, steps]`` float32 of ``[batch, 1, n_mels, frames]``."""
        if isinstance(model_input, torch.Tensor):
            model_input = model_input.detach().to("cpu", torch.float32).numpy()
        return self.session.run(None, {"input": np.ascontiguousarray(model_input, np.float32)})[0]


def onnx_blocks(model: FCN, depth: int, key: str) -> OnnxBlocks:
    """The session of ``model``'s first ``depth`` blocks, made once per ``key`` (the prefix's hash,
    :func:`recsys.features.prefix_hash`) and process; safe to call from several threads."""
    with _lock:
        if key in _sessions:
            _sessions.move_to_end(key)
            return _sessions[key]
        blocks = OnnxBlocks(model, depth)
        _sessions[key] = blocks
        while len(_sessions) > SESSIONS_KEPT:
            _sessions.popitem(last=False)
        return blocks
