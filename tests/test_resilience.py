"""Nothing stops the service for good: inputs that crash it, requests that poison the broker connection, faults of
the disk and the file system. Real daemon, real broker, real crashes."""
import base64
import json
import os
import time
import uuid

import cv2
import numpy as np
import pytest
import requests

from realparts import Broker, Daemon, MemoryCage, Subscriber, drop, free_port, scan_image

pytestmark = pytest.mark.timeout(600)


def _huge_page() -> bytes:
    """A 6000x6000 photo of noise: detection at 4000 px needs gigabytes."""
    noise = np.random.default_rng(0).integers(0, 255, (6000, 6000, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 30])[1].tobytes()


def test_a_page_that_kills_the_service_is_failed_after_its_retries_and_the_rest_is_served(tmp_path):
    """The daemon in a 700 MB memory cgroup is OOM-killed by a huge page (a real crash). Restarted each time, as
    systemd would, it runs the page once more (crash_retries = 1), then fails it with an error result that says
    so, keeps the original in failed/, and processes the next scan."""
    cage = MemoryCage(f"edge-ocr-test-{os.getpid()}", 700)
    if not cage.available:
        if os.environ.get("CI"):
            pytest.fail("no writable memory cgroup: the real-crash test cannot run")
        pytest.skip("no writable memory cgroup on this machine")
    d = Daemon(tmp_path / "d", limits={"crash_retries": 1})
    error_file = d.failed / "poison.jpg.error.json"
    try:
        drop(d.scan, "poison.jpg", _huge_page())
        deaths = 0
        while not error_file.exists():
            assert deaths <= 2, d.log.read_text()[-3000:]
            d.start(cage=cage)
            end = time.time() + 120
            while d.proc.poll() is None and not error_file.exists() and time.time() < end:
                time.sleep(0.2)
            if d.proc.poll() is not None:
                d._logf.close()
                assert d.proc.returncode == -9, d.log.read_text()[-2000:]  # the kernel killed it; no exit of its own
                deaths += 1
        assert deaths == 2 and d.proc.poll() is None, d.log.read_text()[-3000:]
        err = json.loads(error_file.read_text())
        assert err["errorCode"] == 500 and "stopped the service 2 times" in err["errorMsg"]
        end = time.time() + 20
        while (d.scan / "poison.jpg").exists() and time.time() < end:  # the original follows its error file
            time.sleep(0.1)
        assert (d.failed / "poison.jpg").exists() and not (d.scan / "poison.jpg").exists()
        drop(d.scan, "next.jpg", scan_image("NEXT PAGE"))
        files = d.wait_results(1, 60)
        assert json.loads(files[0].read_text())["errorCode"] == 0
        assert d.terminate() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill9()
        cage.remove()


def _immutable(path, on: bool) -> None:
    import subprocess

    subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


def test_an_unmovable_scan_file_does_not_stop_the_service_and_is_moved_once_it_can_be(tmp_path):
    """An immutable original (even root cannot move it): its result is stored, the job is done (not failed, no
    copy in failed/), the next file is served, a restart starts normally, and once the file is movable again
    the daemon moves it by itself."""
    d = Daemon(tmp_path / "d", folder={"rescan_seconds": 1})
    stuck = drop(d.scan, "stuck.jpg", scan_image("STUCK"))
    _immutable(stuck, True)
    try:
        d.start()
        d.wait_results(1, 60)
        drop(d.scan, "next.jpg", scan_image("NEXT"))
        d.wait_results(2, 60)
        assert d.terminate() == 0
        d.start()  # used to exit 70: recover() died on the unmovable original
        assert d.proc.poll() is None
        assert stuck.exists() and not (d.failed / "stuck.jpg").exists() and not (d.failed / "stuck.jpg.error.json").exists()
        assert "cannot move 'stuck.jpg' out of the scan folder" in d.log.read_text()
        _immutable(stuck, False)
        end = time.time() + 30
        while stuck.exists() and time.time() < end:
            time.sleep(0.2)
        assert not stuck.exists() and (d.done / "stuck.jpg").exists()
        assert [json.loads(p.read_text())["errorCode"] for p in d.result_files()] == [0, 0]
        assert d.terminate() == 0
    finally:
        if stuck.exists():
            _immutable(stuck, False)
        if d.proc and d.proc.poll() is None:
            d.kill9()


@pytest.fixture
def daemons():
    """Daemons a test started; killed at the end even when an assertion failed first."""
    started = []
    yield started
    for d in started:
        if d.proc and d.proc.poll() is None:
            d.kill9()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker", extra="max_packet_size 20000\n").start()
    yield b
    b.stop()


def _request(data: bytes, **fields) -> bytes:
    return json.dumps({"file": base64.b64encode(data).decode(), **fields}).encode()


def test_requests_that_would_poison_the_broker_connection_are_refused_at_intake(broker, tmp_path, daemons):
    """A NUL or a wildcard in a reply topic makes the broker drop the connection on every retry; an id that is not
    UTF-8 cannot be journaled. Each is answered with an error on the result topic, and later requests flow."""
    sub = Subscriber(broker.port, "edge-ocr/test/#", f"t-{uuid.uuid4().hex[:8]}")
    d = Daemon(tmp_path / "box", broker.port, folder={"enabled": False})
    daemons.append(d.start())
    sub.wait(lambda: sub.on("edge-ocr/test/available"), 20, "online")
    req, img = "edge-ocr/test/request", scan_image("OK")
    sub.publish(req, _request(img, id="nul", replyTopic="a\u0000b"))
    sub.publish(req, _request(img, id="wild", replyTopic="replies/+/x"))
    sub.publish(req, _request(img, id="sys", replyTopic="$SYS/x"))
    sub.publish(req, _request(img, id="surrogate-topic", replyTopic="\ud800"))
    sub.publish(req, _request(img, id="\ud800"))
    sub.publish(req, _request(img, id="good", replyTopic="replies/good"))
    sub.wait(lambda: len(sub.json_on("edge-ocr/test/result")) >= 6, 60, "6 answers")
    by_id = {a["id"]: a for a in sub.json_on("edge-ocr/test/result")}
    assert "NUL" in by_id["nul"]["errorMsg"] and by_id["nul"]["errorCode"] == 422
    assert "wildcard" in by_id["wild"]["errorMsg"]  # (a broker refuses a wildcard MQTT 5 Response Topic itself)
    assert "broker's" in by_id["sys"]["errorMsg"]
    assert "replyTopic: not valid UTF-8" in by_id["surrogate-topic"]["errorMsg"]
    no_id = [a for a in sub.json_on("edge-ocr/test/result") if a["errorMsg"].startswith("id: not valid UTF-8")]
    assert len(no_id) == 1 and no_id[0]["id"] == no_id[0]["jobId"]  # answered, keyed by content, not by the bad id
    assert by_id["good"]["errorCode"] == 0
    sub.wait(lambda: sub.on("edge-ocr/test/stats") and sub.json_on("edge-ocr/test/stats")[-1]["outbox"] == 0, 20,
             "empty outbox")
    assert "disconnected from the broker" not in d.log.read_text()
    assert d.terminate() == 0
    sub.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_result_the_broker_refuses_goes_to_the_dead_letters_and_later_results_flow(broker, tmp_path, protocol,
                                                                                      daemons):
    """The broker takes packets up to 20,000 bytes; a visualised result is larger. MQTT 5 announces the limit, so
    the result is dead-lettered at once and a 413 answer goes out in its place; over MQTT 3.1.1 the broker drops
    the connection on each try, and after mqtt.max_publish_attempts the result is dead-lettered. Either way the
    next result is delivered and stats count the dead letter."""
    sub = Subscriber(broker.port, "edge-ocr/test/#", f"t-{uuid.uuid4().hex[:8]}")
    d = Daemon(tmp_path / "box", broker.port, folder={"enabled": False},
               mqtt={"protocol": protocol, "max_publish_attempts": 3})
    daemons.append(d.start())
    sub.wait(lambda: sub.on("edge-ocr/test/available"), 20, "online")
    sub.publish("edge-ocr/test/request", _request(scan_image("BIG RESULT", 900, 600), id="big", visualize=True))
    sub.publish("edge-ocr/test/request", _request(scan_image("SMALL"), id="small"))
    answered = {"small", "big"} if protocol == "5" else {"small"}
    sub.wait(lambda: answered <= {a["id"] for a in sub.json_on("edge-ocr/test/result")}, 120, f"answers to {answered}")
    by_id = {a["id"]: a for a in sub.json_on("edge-ocr/test/result")}
    assert by_id["small"]["errorCode"] == 0
    if protocol == "5":
        assert by_id["big"]["errorCode"] == 413 and "maximum packet size" in by_id["big"]["errorMsg"]
    else:
        assert "big" not in by_id
        assert d.log.read_text().count("disconnected from the broker") >= 3
    sub.wait(lambda: sub.json_on("edge-ocr/test/stats")[-1]["dead_letters"] == 1, 20, "a dead letter in stats")
    assert d.terminate() == 0
    sub.close()


def test_file_names_that_are_not_utf8_or_hold_a_newline_are_served_and_logged_safely(tmp_path):
    """b"bad-\\xff\\xfe-name.jpg" used to make SQLite raise on every poll while the next file waited for ever; a newline
    in a name forged a log line."""
    d = Daemon(tmp_path / "d")
    d.scan.mkdir(parents=True)
    bad = d.scan / os.fsdecode(b"bad-\xff\xfe-name.jpg")
    bad.write_bytes(scan_image("BYTES"))
    (d.scan / "two\nlines.jpg").write_bytes(scan_image("NEWLINE"))
    drop(d.scan, "good.jpg", scan_image("GOOD"))
    d.start()
    try:
        files = d.wait_results(3, 60)
        sources = sorted(json.loads(p.read_text())["source"]["path"] for p in files)
        assert sources == ["bad-\\xff\\xfe-name.jpg", "good.jpg", "two\\nlines.jpg"]
        assert all(json.loads(p.read_text())["errorCode"] == 0 for p in files)
        end = time.time() + 20
        while (bad.exists() or (d.scan / "good.jpg").exists()) and time.time() < end:
            time.sleep(0.2)
        assert (d.done / bad.name).exists() and (d.done / "two\nlines.jpg").exists()
        log = d.log.read_text(errors="replace")
        assert "Traceback" not in log and "Logging error" not in log
        assert not [line for line in log.splitlines() if line.startswith("lines.jpg")]  # no forged line
        assert d.terminate() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill9()


@pytest.fixture
def small_disk(tmp_path):
    """A real 512 KiB file system (tmpfs) to fill up."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)]).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("cannot mount a tmpfs for the full-disk test")
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_a_full_results_disk_pauses_the_service_loses_nothing_and_resumes_by_itself(tmp_path, small_disk):
    """Results go to a full disk: no job fails, no original moves, no .tmp is left; once space is freed every
    result is written and every original moves to done/."""
    results = small_disk / "results"
    ballast = small_disk / "ballast"
    with open(ballast, "wb") as f:  # fill it to the last block
        try:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        except OSError:
            pass
    port = free_port()
    d = Daemon(tmp_path / "d", results={"dir": str(results)}, http={"enabled": True, "port": port})
    d.results = results
    d.start()
    health = f"http://127.0.0.1:{port}/health"
    try:
        for i in range(4):
            drop(d.scan, f"page{i}.jpg", scan_image(f"PAGE {i}"))
        end = time.time() + 30
        while "Paused; trying again" not in d.log.read_text() and time.time() < end:
            time.sleep(0.2)
        time.sleep(2)
        assert "Paused; trying again" in d.log.read_text()
        assert not d.failed.exists() or not list(d.failed.iterdir())  # nothing failed for lack of space
        assert sorted(p.name for p in d.scan.iterdir()) == [f"page{i}.jpg" for i in range(4)]  # originals wait
        assert not list(results.rglob("*.tmp"))
        sick = requests.get(health, timeout=10)
        assert sick.status_code == 503 and sick.json()["worker"] == "paused" and "No space" in sick.json()["paused"]
        ballast.unlink()
        files = d.wait_results(4, 120)
        assert all(json.loads(p.read_text())["errorCode"] == 0 for p in files)
        end = time.time() + 20
        while list(d.scan.iterdir()) and time.time() < end:
            time.sleep(0.2)
        assert sorted(p.name for p in d.done.iterdir()) == [f"page{i}.jpg" for i in range(4)]
        well = requests.get(health, timeout=10)
        assert well.status_code == 200 and well.json()["worker"] == "working"
        assert "job " in d.log.read_text() and "folder page3.jpg: done, 1 page(s)" in d.log.read_text()
        assert d.proc.poll() is None and d.terminate() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill9()


def test_a_state_folder_it_cannot_write_or_a_corrupt_journal_is_exit_78_with_what_to_do(tmp_path):
    import subprocess

    from conftest import run_cli

    state = tmp_path / "state"
    state.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'profile = "x86-onnxruntime"\nstate_dir = "{state}"\n[folder]\npath = "{tmp_path}/scan"\n'
                   f'done_dir = "{tmp_path}/done"\nfailed_dir = "{tmp_path}/failed"\n[results]\ndir = "{tmp_path}/r"\n')
    subprocess.run(["chattr", "+i", str(state)], check=True)  # read-only even for root
    try:
        r = run_cli("run", "--config", cfg, timeout=120)
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=True)
    assert r.returncode == 78, r.stderr[-2000:]
    assert f"cannot open the journal {state}/journal.sqlite3" in r.stderr and "what to do" in r.stderr
    assert "Traceback" not in r.stderr
    (state / "journal.sqlite3").write_bytes(b"SQLite format 3\0" + os.urandom(8192))
    r = run_cli("run", "--config", cfg, timeout=120)
    assert r.returncode == 78 and "is corrupt" in r.stderr and "journal.sqlite3.corrupt" in r.stderr, r.stderr[-2000:]


def _pdf(pages: int) -> bytes:
    import io

    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(612, 792).close()  # letter size: a full page of work for detection each
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_sigterm_stops_a_long_pdf_between_pages_and_the_job_goes_on_after_the_restart(tmp_path):
    d = Daemon(tmp_path / "d", limits={"max_pdf_pages": 200})
    d.start()
    try:
        drop(d.scan, "long.pdf", _pdf(120))
        end = time.time() + 30
        while "queued long.pdf" not in d.log.read_text() and time.time() < end:
            time.sleep(0.1)
        time.sleep(1.0)  # a few pages in
        t0 = time.time()
        assert d.terminate(timeout=60) == 0
        stop_seconds = time.time() - t0
        assert stop_seconds < 10, stop_seconds  # not the whole document
        log = d.log.read_text()
        assert "put back after" in log and not d.result_files()
        done_before = int(log.split("put back after ")[1].split(" page")[0])
        assert 0 < done_before < 120
        d.start()
        files = d.wait_results(1, 300)
        assert f"goes on from page {done_before + 1}" in d.log.read_text()
        result = json.loads(files[0].read_text())
        assert result["errorCode"] == 0 and result["result"]["dataInfo"]["numPages"] == 120
        assert len(result["result"]["ocrResults"]) == 120
        assert result["result"]["dataInfo"]["pages"] == [{"width": 1224, "height": 1584}] * 120
        assert d.terminate() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill9()


def test_the_longest_file_names_get_their_result_and_error_files(tmp_path):
    """A 255-byte name: its result (<stem>.json) and its error file (<name>.error.json) would pass the file system's
    limit; they are shortened with a hash instead of failing (or pausing the service for ever)."""
    d = Daemon(tmp_path / "d")
    good = "g" * 251 + ".jpg"
    bad = "b" * 251 + ".jpg"
    d.scan.mkdir(parents=True)
    (d.scan / good).write_bytes(scan_image("LONG NAME"))
    (d.scan / bad).write_bytes(b"not an image at all")
    d.start()
    try:
        files = d.wait_results(1, 60)
        assert json.loads(files[0].read_text())["source"]["path"] == good and len(files[0].name) == 255
        end = time.time() + 60
        while not list(d.failed.glob("*.error.json")) and time.time() < end:
            time.sleep(0.2)
        (error,) = list(d.failed.glob("*.error.json"))
        assert len(error.name) == 255 and json.loads(error.read_text())["errorCode"] == 422
        assert "Paused" not in d.log.read_text() and not list(d.scan.iterdir())
        assert d.terminate() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill9()
