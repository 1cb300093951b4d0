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


def test_the_daemon_detects_the_next_scan_while_recognising_this_one_with_the_same_results(tmp_path, reference):
    """Scans queued before the daemon starts: each next scan's decode and detection overlap the current one's
    recognition (the log says which), and every answer equals the serial API's on the same file."""
    from edge.api import EdgeOCR
    from edge.service.protocol import prune
    from realparts import Daemon

    names = ["general_ocr_002.jpg", "ppocr_00111002.jpg", "ppocr_11.jpg", "rapid_japan.jpg", "rapid_en.jpg",
             "rapid_text_vertical_words.png"]
    d = Daemon(tmp_path / "d", profile="x86-openvino")
    d.scan.mkdir(parents=True)
    for n in names:
        (d.scan / n).write_bytes((reference / "images" / n).read_bytes())
    try:
        d.start()
        files = d.wait_results(len(names), 180)
    finally:
        d.terminate()
    serial = EdgeOCR(profile="x86-openvino", pipelined=False)
    for f in files:
        answer = json.loads(f.read_text())
        [expected] = serial.predict(str(reference / "images" / next(n for n in names if n.rsplit(".", 1)[0] == f.stem)))
        assert answer["result"]["ocrResults"][0]["prunedResult"] == json.loads(json.dumps(prune(dict(expected)))), f
    assert d.log.read_text().count("(detected ahead)") >= 3, d.log.read_text()[-3000:]
