"""Reads a PaddleX model folder's inference.yml and prints what the build needs as one JSON object.

Runs inside the paddle2onnx tool venv (pyyaml). Output keys: model_name, normalize (mean/std/scale or null),
character_dict (list or null), label_list (list or null), input_size (classifier [w, h] or null).

usage: paddlex_meta.py MODEL_DIR
"""
import json
import sys
from pathlib import Path

import yaml


def find_op(ops, name):
    for op in ops or []:
        if isinstance(op, dict) and name in op:
            return op[name] or {}
    return None


def main() -> None:
    d = Path(sys.argv[1])
    cfg = yaml.safe_load((d / "inference.yml").read_text(encoding="utf-8"))
    ops = (cfg.get("PreProcess") or {}).get("transform_ops") or []
    norm = find_op(ops, "NormalizeImage")
    resize = find_op(ops, "ResizeImage")
    post = cfg.get("PostProcess") or {}
    topk = post.get("Topk") if isinstance(post.get("Topk"), dict) else None
    scale = norm.get("scale") if norm else None
    if isinstance(scale, str):  # "1./255." in PaddleX files
        num, _, den = scale.partition("/")
        scale = float(num) / float(den or 1)
    print(json.dumps({
        "model_name": (cfg.get("Global") or {}).get("model_name"),
        "normalize": None if norm is None else {"mean": norm.get("mean"), "std": norm.get("std"), "scale": scale},
        "character_dict": post.get("character_dict"),
        "label_list": topk.get("label_list") if topk else None,
        "input_size": resize.get("size") if resize else None,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
