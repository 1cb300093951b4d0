"""A fault campaign against the real daemon: mixed scan-folder and MQTT jobs, kill -9 at random points, a broker
outage, a full results disk, a poison request and a poison input. It ends with the counts that matter: jobs lost,
and requests run twice (answers with different job ids for one request).

    .venv/bin/python tests/campaign.py [--jobs 300] [--kills 10] [--outage 120] [--json out.json]

Needs root for the full-disk step (a tmpfs) and the poison input (a memory cgroup); both are skipped, and said so,
where they cannot run. Bounded in count and time; all traffic stays on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realparts import Broker, Daemon, MemoryCage, Subscriber, drop, scan_image  # noqa: E402


def _request(text: str, **fields) -> bytes:
    return json.dumps({"file": base64.b64encode(scan_image(text)).decode(), **fields}).encode()


def _fill(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--outage", type=float, default=120, help="seconds the broker is down")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="edge-campaign-"))
    broker = Broker(work / "broker").start()
    small = work / "small"
    small.mkdir()
    tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)],
                           capture_output=True).returncode == 0
    results = small / "results" if tmpfs else work / "results"
    cage = MemoryCage(f"edge-campaign-{os.getpid()}", 900)
    d = Daemon(work / "box", broker.port, results={"dir": str(results)},
               folder={"settle_seconds": 0.3, "rescan_seconds": 2}, limits={"crash_retries": 1})
    d.results = results
    sub = Subscriber(broker.port, "edge-ocr/test/result", f"campaign-{uuid.uuid4().hex[:6]}")
    notes, kills, t_start = [], 0, time.time()

    def start():
        d.start(cage=cage if cage.available else None)

    def kill_now():
        nonlocal kills
        if d.proc and d.proc.poll() is None:
            d.kill9()
            kills += 1
        start()

    start()
    n_folder = a.jobs // 2
    n_mqtt = a.jobs - n_folder
    kill_every = max(1, a.jobs // max(1, a.kills))
    sent = 0
    # MQTT requests first (they need the broker), with kills in between; a repeat of some ids (at-least-once senders)
    for i in range(n_mqtt):
        sub.publish("edge-ocr/test/request", _request(f"MQTT {i}", id=f"m{i}"))
        if rng.random() < 0.05:
            sub.publish("edge-ocr/test/request", _request(f"MQTT {i}", id=f"m{i}"))  # a resend
        sent += 1
        if sent % kill_every == 0:
            time.sleep(rng.uniform(0.0, 1.5))
            kill_now()
    sub.publish("edge-ocr/test/request", _request("POISON", id="poison-topic", replyTopic="a\u0000b"))
    # the broker goes away while folder jobs arrive and results wait in the outbox
    broker.stop()
    outage_end = time.time() + a.outage
    for i in range(n_folder):
        drop(d.scan, f"batch{i // 50}/f{i}.jpg", scan_image(f"FOLDER {i}"))
        sent += 1
        if sent % kill_every == 0:
            time.sleep(rng.uniform(0.0, 1.5))
            kill_now()
        if tmpfs and i == n_folder // 2:  # the results disk fills up for a while
            _fill(small / "ballast")
            time.sleep(5)
            (small / "ballast").unlink()
    if cage.available:
        import cv2
        import numpy as np
        noise = np.random.default_rng(0).integers(0, 255, (6000, 6000, 3), dtype=np.uint8)
        drop(d.scan, "poison.jpg", cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 30])[1].tobytes())
    else:
        notes.append("no memory cgroup: the poison input was not sent")
    if not tmpfs:
        notes.append("no tmpfs: the full-disk step was skipped")
    while time.time() < outage_end:
        if d.proc.poll() is not None:  # the poison input killed it: restart, as systemd would
            start()
        time.sleep(0.5)
    broker.start()
    deadline = time.time() + 900
    expected_files = n_folder + (1 if cage.available else 0)
    while time.time() < deadline:
        if d.proc.poll() is not None:
            start()
        answered = {m["id"] for m in sub.json_on("edge-ocr/test/result")}
        files = len(d.result_files()) + len(list(d.failed.rglob("*.error.json")))
        if files >= expected_files and all(f"m{i}" in answered for i in range(n_mqtt)) and "poison-topic" in answered:
            break
        time.sleep(1)
    time.sleep(3)
    rc = d.terminate()
    answers = sub.json_on("edge-ocr/test/result")
    job_ids: dict[str, set] = {}
    for m in answers:
        job_ids.setdefault(m["id"], set()).add(m["jobId"])
    mqtt_lost = [f"m{i}" for i in range(n_mqtt) if f"m{i}" not in job_ids]
    by_name: dict[str, list] = {}
    for f in d.result_files():
        body = json.loads(f.read_text())
        by_name.setdefault(body["source"]["path"], []).append(body["jobId"])
    errors = {p.name[:-len(".error.json")]: json.loads(p.read_text()) for p in d.failed.rglob("*.error.json")}
    folder_lost = [f"batch{i // 50}/f{i}.jpg" for i in range(n_folder)
                   if f"batch{i // 50}/f{i}.jpg" not in by_name and f"f{i}.jpg" not in errors]
    report = {
        "jobs": a.jobs, "mqtt_jobs": n_mqtt, "folder_jobs": n_folder, "kills": kills, "broker_outage_seconds": a.outage,
        "full_disk": tmpfs, "poison_input_sent": cage.available, "seconds": round(time.time() - t_start, 1),
        "lost": len(mqtt_lost) + len(folder_lost), "lost_ids": (mqtt_lost + folder_lost)[:20],
        "run_twice": sorted(k for k, v in {**job_ids, **{n: set(v) for n, v in by_name.items()}}.items() if len(v) > 1),
        "answers_delivered_more_than_once": len(answers) - len(job_ids),
        "poison_request_answer": next((m["errorMsg"] for m in answers if m["id"] == "poison-topic"), None),
        "poison_input_answer": errors.get("poison.jpg", {}).get("errorMsg"),
        "failed_folder_jobs": sorted(k for k in errors if k != "poison.jpg")[:20],
        "daemon_exit": rc, "notes": notes,
    }
    sub.close()
    broker.stop()
    cage.remove()
    if tmpfs:
        subprocess.run(["umount", "-l", str(small)])
    text = json.dumps(report, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    return 0 if report["lost"] == 0 and not report["run_twice"] and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
