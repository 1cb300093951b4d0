"""Runs inside the rknn-toolkit2 tool environment (CPython 3.11, numpy 1.26): ONNX -> .rknn, and the toolkit's
simulator as a predictor server for `models verify --target rknn-<soc>`.

    rknn_tool.py convert JOB.json        builds every model of the job, writes what it did to job["report"]
    rknn_tool.py serve JOB.json KEY      builds KEY again, checks it is the built file, then answers requests

The simulator runs only a model built in the same process (not one loaded from a .rknn file), so `serve` repeats the
build with the same inputs and exports it again; the client compares that file with the shipped one (the toolkit
writes uninitialised memory into every file, up to 2.2% of its bytes, so equal means equal but for those). Protocol of `serve`: requests on stdin and answers on the original
stdout, each an 8-byte little-endian length and an .npy payload; the toolkit's chatter goes to stderr.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

from protocol import protocol_out, serve_loop


def without_identities(src: str, dst: str) -> int:
    """rknn-toolkit2 2.5.0's attention fusion fails (IndexError) on the Identity nodes paddle2onnx leaves between
    Add and MatMul in the recogniser; they compute nothing, so they are bypassed."""
    import onnx

    m = onnx.load(src)
    g = m.graph
    outputs = {o.name for o in g.output}
    alias, keep = {}, []
    for n in g.node:
        if n.op_type == "Identity" and n.output[0] not in outputs:
            alias[n.output[0]] = alias.get(n.input[0], n.input[0])
        else:
            keep.append(n)
    for n in keep:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]
    del g.node[:]
    g.node.extend(keep)
    onnx.save(m, dst)
    return len(alias)


def build(rknn_cls, model: dict, soc: str, out: str, work: str) -> tuple[object, dict]:
    """One model: returns the toolkit object (ready for the simulator) and what was done."""
    onnx_in = os.path.join(work, os.path.basename(model["onnx"]))
    removed = without_identities(model["onnx"], onnx_in)
    r = rknn_cls(verbose=False)
    shapes = model["shapes"]
    kw = {"dynamic_input": [[s] for s in shapes]} if len(shapes) > 1 else {}
    r.config(target_platform=soc, optimization_level=3, quantized_algorithm=model["algorithm"], **kw)
    import onnx

    name = onnx.load(onnx_in, load_external_data=False).graph.input[0].name
    load_kw = {} if len(shapes) > 1 else {"inputs": [name], "input_size_list": [shapes[0]]}
    if r.load_onnx(model=onnx_in, **load_kw) != 0:
        raise SystemExit(f"{model['key']}: rknn load_onnx failed (see the log above)")
    int8 = model["precision"] == "int8"
    t = time.time()
    if r.build(do_quantization=int8, dataset=model.get("dataset") if int8 else None) != 0:
        raise SystemExit(f"{model['key']}: rknn build failed (see the log above)")
    seconds = time.time() - t
    if r.export_rknn(out) != 0:
        raise SystemExit(f"{model['key']}: rknn export failed")
    return r, {"key": model["key"], "identities_removed": removed, "build_seconds": round(seconds, 1),
               "size": os.path.getsize(out)}


def convert(job: dict) -> None:
    from rknn.api import RKNN

    report = []
    for model in job["models"]:
        with tempfile.TemporaryDirectory() as work:
            r, done = build(RKNN, model, job["soc"], model["out"], work)
            r.release()
        report.append(done)
    with open(job["report"], "w") as f:
        json.dump(report, f)


def serve(job: dict, key: str) -> None:
    proto = protocol_out()  # the toolkit prints on stdout: keep it off the protocol
    from rknn.api import RKNN

    model = next(m for m in job["models"] if m["key"] == key)
    work = tempfile.mkdtemp(prefix="rknn-serve-")
    out = os.path.join(work, "model.rknn")
    r, done = build(RKNN, model, job["soc"], out, work)
    if r.init_runtime() != 0:
        raise SystemExit(f"{key}: the toolkit's simulator did not start")
    serve_loop(proto, lambda x: r.inference(inputs=[x], data_format="nchw")[0], {"rebuilt": out})
    r.release()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    with open(sys.argv[2]) as f:
        job = json.load(f)
    if sys.argv[1] == "convert":
        convert(job)
    elif sys.argv[1] == "serve":
        serve(job, sys.argv[3])
    else:
        raise SystemExit(f"unknown command {sys.argv[1]}")
