"""ONNX graph rewrites so x2paddle 1.6 converts paddle2onnx-exported PP-OCR models and Paddle Lite can fuse them.

Runs inside the x2paddle tool venv (onnx 1.16, onnxruntime). Every pass is exact except the HardSwish
decomposition, which moves outputs by ~1e-6. Prints one JSON line of pass counts.

usage: surgery.py IN.onnx OUT.onnx --probe 1x3x48x320 --probe 2x3x48x640 ...
"""
from __future__ import annotations

import argparse
import collections
import json
import re

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper


def constants(g) -> dict:
    out = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def consumers(g) -> dict:
    out = collections.defaultdict(list)
    for n in g.node:
        for x in n.input:
            out[x].append(n)
    return out


def add_initializer(g, consts, name, value):
    g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
    consts[name] = value


def decompose_hardswish(g) -> int:
    """x2paddle 1.6 has no HardSwish mapper; x * HardSigmoid(x, 1/6, 0.5) is the same function."""
    new, count = [], 0
    for n in g.node:
        if n.op_type != "HardSwish":
            new.append(n)
            continue
        hs = n.output[0] + "_hsig"
        new.append(helper.make_node("HardSigmoid", [n.input[0]], [hs], alpha=1 / 6, beta=0.5, name=n.name + "_hsig"))
        new.append(helper.make_node("Mul", [n.input[0], hs], [n.output[0]], name=n.name + "_mul"))
        count += 1
    del g.node[:]
    g.node.extend(new)
    return count


def drop_identities(g) -> int:
    """paddle2onnx 2.x puts ~190 Identity nodes on weights; x2paddle would run each as an `assign` op."""
    outs = {o.name for o in g.output}
    alias = {}
    for n in list(g.node):
        if n.op_type == "Identity" and n.output[0] not in outs:
            alias[n.output[0]] = n.input[0]
            g.node.remove(n)

    def resolve(x):
        while x in alias:
            x = alias[x]
        return x

    for n in g.node:
        for k, x in enumerate(n.input):
            n.input[k] = resolve(x)
    return len(alias)


def fold_constant_shape_ops(g, consts) -> int:
    """Reshape/Unsqueeze/Squeeze of constants become constants (paddle2onnx 1.x emits conv biases this way)."""
    outs = {o.name for o in g.output}
    count, changed = 0, True
    while changed:
        changed = False
        for n in list(g.node):
            if n.op_type not in ("Reshape", "Unsqueeze", "Squeeze") or n.output[0] in outs:
                continue
            if not all(x in consts for x in n.input if x):
                continue
            a = consts[n.input[0]]
            if n.op_type == "Reshape":
                shape = [a.shape[i] if v == 0 else int(v) for i, v in enumerate(consts[n.input[1]])]
                r = a.reshape(shape)
            else:
                if len(n.input) > 1:
                    axes = [int(v) for v in consts[n.input[1]]]
                else:
                    axes = [list(at.ints) for at in n.attribute if at.name == "axes"][0]
                r = np.expand_dims(a, axes) if n.op_type == "Unsqueeze" else np.squeeze(a, tuple(axes))
            add_initializer(g, consts, n.output[0], r)
            g.node.remove(n)
            count += 1
            changed = True
    return count


def convs_feeding(g, consts, op_type):
    """(conv, its only consumer, consumers map) for every conv with constant weights, not a graph output, whose
    output feeds exactly one node, of type op_type."""
    outs = {o.name for o in g.output}
    users = consumers(g)
    for n in list(g.node):
        if n.op_type != "Conv" or n.output[0] in outs or n.input[1] not in consts:
            continue
        u = users.get(n.output[0], [])
        if len(u) == 1 and u[0].op_type == op_type:
            yield n, u[0], users


def other_input(node, name: str) -> str:
    """The input of a binary node that is not `name`."""
    return node.input[1] if node.input[0] == name else node.input[0]


def set_conv_bias(conv, name: str) -> None:
    if len(conv.input) > 2:
        conv.input[2] = name
    else:
        conv.input.append(name)


def fuse_conv_bias(g, consts) -> int:
    """Conv -> Add(constant per-channel) becomes the conv's own bias, the form Lite fuses with activations."""
    count = 0
    for n, add, _ in convs_feeding(g, consts, "Add"):
        other = other_input(add, n.output[0])
        if other not in consts:
            continue
        b = consts[other]
        channels = consts[n.input[1]].shape[0]
        per_channel = b.size == channels and (
            b.ndim == 1 or (b.ndim >= 3 and b.shape[-3] == channels and b.shape[-2:] == (1, 1)))
        if not per_channel:
            continue
        bias = b.reshape(channels).astype(np.float32)
        if len(n.input) > 2 and n.input[2]:
            bias = bias + consts[n.input[2]].reshape(channels)
        name = n.name + "_fused_bias"
        add_initializer(g, consts, name, bias)
        set_conv_bias(n, name)
        n.output[0] = add.output[0]
        g.node.remove(add)
        count += 1
    return count


def fuse_conv_affine(g, consts) -> int:
    """PP-LCNetV3 learnable affine block right after a conv, Conv -> Mul(a) -> Add(b), folds into W*a, B*a+b.

    (Never expressed as a `scale` op: Lite 2.13 folds a scale next to a conv wrongly.)
    """
    outs = {o.name for o in g.output}
    count = 0
    for n, mul, users in convs_feeding(g, consts, "Mul"):
        if mul.output[0] in outs:
            continue
        a_name = other_input(mul, n.output[0])
        u2 = users.get(mul.output[0], [])
        if a_name not in consts or consts[a_name].size != 1 or len(u2) != 1 or u2[0].op_type != "Add":
            continue
        add = u2[0]
        b_name = other_input(add, mul.output[0])
        if b_name not in consts or consts[b_name].size != 1:
            continue
        a = float(consts[a_name].reshape(-1)[0])
        b = float(consts[b_name].reshape(-1)[0])
        w = consts[n.input[1]].astype(np.float32) * a
        channels = w.shape[0]
        has_bias = len(n.input) > 2 and n.input[2]
        bias = consts[n.input[2]].reshape(channels).astype(np.float32) if has_bias else np.zeros(channels, np.float32)
        add_initializer(g, consts, n.name + "_lab_w", w)
        add_initializer(g, consts, n.name + "_lab_b", bias * a + b)
        n.input[1] = n.name + "_lab_w"
        set_conv_bias(n, n.name + "_lab_b")
        n.output[0] = add.output[0]
        g.node.remove(mul)
        g.node.remove(add)
        count += 1
    return count


def bypass_assign_chains(g, consts) -> int:
    """paddle2onnx writes Paddle's `assign` as Unsqueeze(x,0) -> Add(.,0) -> Squeeze(.,0); x2paddle loses every shape
    through it ("input's channels is -1"), so the chain is replaced by x itself."""
    producers = {o: n for n in g.node for o in n.output}
    rename, drop = {}, set()
    for n in g.node:
        if n.op_type != "Squeeze" or n.input[0] not in producers:
            continue
        add = producers[n.input[0]]
        if add.op_type != "Add":
            continue
        unsq = producers.get(add.input[0])
        zero = consts.get(add.input[1])
        if unsq is not None and unsq.op_type == "Unsqueeze" and zero is not None and zero.size == 1 \
                and float(zero.reshape(-1)[0]) == 0.0:
            rename[n.output[0]] = unsq.input[0]
            drop |= {id(n), id(add), id(unsq)}
    assert not any(o.name in rename for o in g.output), "assign chain feeds a graph output"
    for n in g.node:
        for k, x in enumerate(n.input):
            if x in rename:
                n.input[k] = rename[x]
    keep = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(keep)
    return len(rename)


def freeze_runtime_reshapes(model, probes) -> dict:
    """Reshape targets computed at run time (Shape/Slice/Concat) become constants that x2paddle can type.

    Each target is observed with onnxruntime at the probe shapes. Per position: 0 (copy the input dim) where it
    always equals the input dim and varies, the constant where it never changes, else -1 (at most one).
    A reshape to [N, rest] becomes Flatten(axis=1): x2paddle cannot type the MatMul after a 0-reshape.
    """
    g = model.graph
    static = {i.name for i in g.initializer} | {n.output[0] for n in g.node if n.op_type == "Constant"}
    runtime = [n for n in g.node if n.op_type == "Reshape" and n.input[1] not in static]
    report = {"runtime_reshapes": len(runtime), "frozen": {}}
    if not runtime:
        return report
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    wanted, types = [], {}
    for n in runtime:
        for t, tp in ((n.input[1], onnx.TensorProto.INT64), (n.input[0], onnx.TensorProto.FLOAT)):
            if t not in types:
                wanted.append(t)
                types[t] = tp
    del probe.graph.output[:]
    for t in wanted:
        probe.graph.output.append(helper.make_tensor_value_info(t, types[t], None))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = sess.get_inputs()[0].name
    rng = np.random.default_rng(0)
    seen = [dict(zip(wanted, sess.run(wanted, {feed: rng.random(s, dtype=np.float32)}))) for s in probes]
    for n in runtime:
        targets = np.stack([r[n.input[1]] for r in seen])
        in_shapes = [r[n.input[0]].shape for r in seen]
        frozen = []
        for k in range(targets.shape[1]):
            col = targets[:, k]
            varies = not (col == col[0]).all()
            if varies and all(k < len(s) and col[j] == s[k] for j, s in enumerate(in_shapes)):
                frozen.append(0)
            elif not varies:
                frozen.append(int(col[0]))
            else:
                frozen.append(-1)
        if all(len(s) > 0 and targets[j, 0] == s[0] for j, s in enumerate(in_shapes)):
            frozen[0] = 0  # batch is always copied
        if frozen.count(-1) > 1:
            raise SystemExit(f"reshape {n.name}: cannot freeze target {targets.tolist()} for inputs {in_shapes}")
        if len(frozen) == 2 and frozen[0] == 0 and all(
                frozen[1] == -1 or int(np.prod(s[1:])) == targets[j, 1] for j, s in enumerate(in_shapes)):
            n.op_type = "Flatten"
            del n.input[1:]
            del n.attribute[:]
            n.attribute.append(helper.make_attribute("axis", 1))
            report["frozen"][n.name] = "Flatten(axis=1)"
            continue
        name = n.input[1] + "_frozen"
        g.initializer.append(numpy_helper.from_array(np.array(frozen, np.int64), name))
        n.input[1] = name
        report["frozen"][n.name] = frozen
    changed = True
    while changed:  # the Shape/Slice/Concat chains that computed the targets are now dead
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        keep = [n for n in g.node if any(o in used for o in n.output)]
        changed = len(keep) != len(g.node)
        del g.node[:]
        g.node.extend(keep)
    return report


def sanitise_names(g) -> int:
    """x2paddle generates Python with tensor names as identifiers; 'Constant@0' would break it."""
    ok = re.compile(r"[A-Za-z0-9_.]*")
    names = set()
    for n in g.node:
        names |= set(n.input) | set(n.output)
    for v in [*g.input, *g.output, *g.value_info, *g.initializer]:
        names.add(v.name)
    used = {x for x in names if ok.fullmatch(x)}
    rename = {}
    for x in sorted(names):
        if x and not ok.fullmatch(x):
            y = re.sub(r"[^A-Za-z0-9_.]", "_", x)
            while y in used:
                y += "_"
            used.add(y)
            rename[x] = y
    for n in g.node:
        for k, x in enumerate(n.input):
            n.input[k] = rename.get(x, x)
        for k, x in enumerate(n.output):
            n.output[k] = rename.get(x, x)
    for v in [*g.input, *g.output, *g.value_info, *g.initializer]:
        v.name = rename.get(v.name, v.name)
    return len(rename)


def drop_untyped_value_info(g) -> int:
    """x2paddle's decoder crashes (KeyError: 0) on value_info without an element type."""
    bad = [v for v in g.value_info if v.type.tensor_type.elem_type == 0]
    for v in bad:
        g.value_info.remove(v)
    return len(bad)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--probe", action="append", required=True, help="input shape like 1x3x48x320")
    a = ap.parse_args()
    probes = [tuple(int(v) for v in s.split("x")) for s in a.probe]
    model = onnx.load(a.src)
    g = model.graph
    report = {"hardswish_decomposed": decompose_hardswish(g), "identities_dropped": drop_identities(g)}
    consts = constants(g)
    report["shape_ops_folded"] = fold_constant_shape_ops(g, consts)
    report["conv_bias_fused"] = fuse_conv_bias(g, consts)
    report["conv_affine_fused"] = fuse_conv_affine(g, consts)
    report["assign_chains_bypassed"] = bypass_assign_chains(g, consts)
    report.update(freeze_runtime_reshapes(model, probes))
    report["tensors_renamed"] = sanitise_names(g)
    report["untyped_value_info_dropped"] = drop_untyped_value_info(g)
    onnx.checker.check_model(model)
    onnx.save(model, a.dst)
    report["ops"] = dict(collections.Counter(n.op_type for n in g.node if n.op_type != "Constant"))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
