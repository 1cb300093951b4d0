"""Stream throughput (issue 10): the next page's front half overlaps this page's recognition, with the same bytes
as one page after the other, through the real engines; and the overlap's own contract."""
from __future__ import annotations

import json
import threading
import time

import pytest

from edge.stream import pipelined


def _pages(ocr, inputs) -> list[str]:
    return [json.dumps(dict(r), ensure_ascii=False) if r.ok else f"failed: {r['error']}" for r in ocr.predict(inputs)]


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_pipelined_results_are_byte_identical_to_serial_ones(reference, tmp_path, engine):
    from edge.api import EdgeOCR

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    images = sorted(str(p) for p in (reference / "images").iterdir())
    inputs = [*images[:6], str(broken), *images[6:]]  # a failure in the middle of the stream
    serial = EdgeOCR(engine=engine, pipelined=False)
    overlapped = EdgeOCR(engine=engine, pipelined=True)
    a, b = _pages(serial, inputs), _pages(overlapped, inputs)
    assert len(a) == 14 and any(x.startswith("failed") for x in a)
    assert a == b
    assert _pages(overlapped, inputs) == a  # warm: the same again


def test_the_overlap_runs_fronts_ahead_in_order_and_never_more_than_one_page_ahead():
    started, alive, most = [], [0], [0]
    lock = threading.Lock()

    def fronts():
        for i in range(6):
            with lock:
                alive[0] += 1
                most[0] = max(most[0], alive[0])
            started.append(i)
            time.sleep(0.01)
            yield i

    def back(i):
        time.sleep(0.03)
        with lock:
            alive[0] -= 1
        return i * 10

    assert list(pipelined(fronts(), back)) == [0, 10, 20, 30, 40, 50]
    assert most[0] == 2  # the page being recognised and the next one


def test_an_error_in_the_front_half_is_raised_in_order_and_closing_early_stops_the_thread():
    def fronts():
        yield 1
        yield 2
        raise ValueError("bad page")

    out = []
    with pytest.raises(ValueError, match="bad page"):
        for x in pipelined(fronts(), lambda i: i):
            out.append(x)
    assert out == [1, 2]

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    gen = pipelined(endless(), lambda i: i)
    assert next(gen) == 0
    gen.close()
    time.sleep(0.1)
    assert len(produced) <= 3 and not any(t.name == "edge-front" for t in threading.enumerate())
