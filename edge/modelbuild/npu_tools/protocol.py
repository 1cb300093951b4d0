"""The tool side of edge/engine/served.py's pipe protocol, shared by the tool scripts beside it (each tool's Python
finds it on sys.path, as the running script's folder)."""
from __future__ import annotations

import io
import json
import os
import struct
import sys


def _read_exact(f, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = f.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def protocol_out():
    """The original stdout, for answers; from here on the process's stdout goes to stderr (libraries print)."""
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return proto


def serve_loop(proto, run, hello: dict) -> None:
    """Sends `hello`, then answers each .npy request with run(x) as .npy until stdin closes."""
    import numpy as np

    def send(payload: bytes) -> None:
        proto.write(struct.pack("<Q", len(payload)) + payload)
        proto.flush()

    send(json.dumps({"ready": True, **hello}).encode())
    stdin = sys.stdin.buffer
    while True:
        try:
            (n,) = struct.unpack("<Q", _read_exact(stdin, 8))
        except EOFError:
            return
        y = run(np.load(io.BytesIO(_read_exact(stdin, n))))
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(y, dtype=np.float32))
        send(buf.getvalue())
