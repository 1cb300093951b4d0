"""Nothing stops the service for good: inputs that crash it, requests that poison the broker connection, faults of
the disk and the file system. Real daemon, real broker, real crashes."""
import json
import os
import time

import cv2
import numpy as np
import pytest

from realparts import Daemon, MemoryCage, drop, scan_image

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
