"""Exact clean-up of an x2paddle (Paddle 2.6 legacy) inference program so Paddle Lite 2.13 fuses conv + bias.

Runs inside the x2paddle tool venv (paddlepaddle 2.6). Paddle 2.6's jit.save writes a conv bias as
reshape2(parameter) + elementwise_add; Lite's conv-bias fuse pass wants elementwise_add(x, bias[C], axis=1).
Folding halves the op count (rec 532 -> 255 on ARM) and roughly halves Lite time.
(Turning Mul/Add by scalars into `scale` is deliberately not done: Lite 2.13 folds such a scale into the
following conv incorrectly.)

usage: pdfold.py IN_PREFIX OUT_PREFIX      (prefixes of .pdmodel/.pdiparams)
"""
import json
import sys

import numpy as np
import paddle


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.global_scope()
    prog, feeds, fetches = paddle.static.load_inference_model(src, exe)
    blk = prog.global_block()

    def value(name):
        return np.array(scope.find_var(name).get_tensor())

    def set_value(name, arr):
        v = blk.var(name)
        v.desc.set_persistable(True)
        v.desc.set_shape(list(arr.shape))
        scope.var(name).get_tensor().set(np.ascontiguousarray(arr), paddle.CPUPlace())

    def persistable(name):
        return blk.has_var(name) and blk.var(name).persistable

    reshapes = 0
    for i in reversed(range(len(blk.ops))):
        op = blk.ops[i]
        if op.type == "reshape2" and not op.input("ShapeTensor") and not op.input("Shape") \
                and persistable(op.input("X")[0]):
            x = value(op.input("X")[0])
            shape = [x.shape[k] if v == 0 else v for k, v in enumerate(op.attr("shape"))]
            set_value(op.output("Out")[0], x.reshape(shape))
            blk._remove_op(i)
            reshapes += 1
    biases = 0
    for op in blk.ops:
        if op.type == "elementwise_add" and persistable(op.input("Y")[0]) and not persistable(op.input("X")[0]):
            y = value(op.input("Y")[0])
            if y.ndim == 4 and y.shape[0] == 1 and y.shape[2:] == (1, 1):
                set_value(op.input("Y")[0], y.reshape(-1))
                op._set_attr("axis", 1)
                biases += 1
    prog._sync_with_cpp()
    paddle.static.save_inference_model(dst, [blk.var(f) for f in feeds], fetches, exe, program=prog)
    print(json.dumps({"reshape2_params_folded": reshapes, "bias_adds_to_axis1": biases, "ops": len(blk.ops)}))


if __name__ == "__main__":
    main()
