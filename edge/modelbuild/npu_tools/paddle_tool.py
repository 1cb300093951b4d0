"""Runs inside the Paddle 2.6 tool environment (the x2paddle one): post-training int8 quantisation of the legacy
Paddle programs for Paddle Lite NNAdapter, and the quantised programs in Paddle inference as a predictor server for
`models verify --target nnadapter`.

    paddle_tool.py quantize JOB.json     quantises every model of the job, writes what it did to job["report"]
    paddle_tool.py serve MODEL_DIR       answers requests with the quantised program (fake-quant ops: int8 rounding
                                         of weights and activations, computed in float)

Paddle's own PostTrainingQuantization (what paddleslim's quant_post_static wraps) is used directly: it takes the
calibration inputs as they are, at their natural sizes. Protocol of `serve`: as edge/engine/served.py describes.
"""
from __future__ import annotations

import json
import os
import sys
import time

from protocol import protocol_out, serve_loop


def _paddle():
    import paddle

    paddle.enable_static()
    return paddle


def quantize(job: dict) -> None:
    import numpy as np

    paddle = _paddle()
    from paddle.static.quantization import PostTrainingQuantization

    class Feeds(paddle.io.DataLoader):
        """The calibration inputs as feeds; PostTrainingQuantization only takes a DataLoader."""

        def __init__(self, name: str, files: list[str]):
            self.name, self.files = name, files

        def __call__(self):
            for f in self.files:
                yield {self.name: np.load(f)}

        def __len__(self):
            return len(self.files)

    report = []
    for m in job["models"]:
        exe = paddle.static.Executor(paddle.CPUPlace())
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            _, feeds, _ = paddle.static.load_inference_model(os.path.join(m["folded"], "model"), exe)
            t = time.time()
            ptq = PostTrainingQuantization(
                executor=exe, model_dir=m["folded"], model_filename="model.pdmodel", params_filename="model.pdiparams",
                data_loader=Feeds(feeds[0], m["dataset"]), batch_nums=len(m["dataset"]), algo=job["algo"],
                quantizable_op_type=job["op_types"], is_full_quantize=True, weight_bits=8, activation_bits=8,
                weight_quantize_type="channel_wise_abs_max", onnx_format=False, scope=scope)
            ptq.quantize()
            ptq.save_quantized_model(m["out"], model_filename="model.pdmodel", params_filename="model.pdiparams")
        report.append({"key": m["key"], "seconds": round(time.time() - t, 1)})
    with open(job["report"], "w") as f:
        json.dump(report, f)


def serve(model_dir: str) -> None:
    proto = protocol_out()
    paddle = _paddle()
    exe = paddle.static.Executor(paddle.CPUPlace())
    program, feeds, fetches = paddle.static.load_inference_model(os.path.join(model_dir, "model"), exe)
    serve_loop(proto, lambda x: exe.run(program, feed={feeds[0]: x}, fetch_list=fetches)[0], {})


if __name__ == "__main__":
    if sys.argv[1] == "quantize":
        with open(sys.argv[2]) as f:
            quantize(json.load(f))
    elif sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {sys.argv[1]}")
