"""The appliance daemon with real parts: mosquitto on a loopback port, `edge-ocr run` as a subprocess, real files."""
import base64
import json
import os
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from realparts import Broker, Daemon, Subscriber, drop, scan_image

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def _sub(broker, prefix="edge-ocr/test", protocol=mqtt.MQTTv5):
    return Subscriber(broker.port, f"{prefix}/#", f"test-{uuid.uuid4().hex[:8]}", protocol)


def _by_path(results: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in results:
        out.setdefault(r["source"].get("path"), []).append(r)
    return out


def test_files_dropped_while_running_and_while_down_are_processed_once(broker, tmp_path):
    sub = _sub(broker)
    d = Daemon(tmp_path / "box", broker.port).start()
    sub.wait(lambda: [m.payload for m in sub.on("edge-ocr/test/available")][-1:] == [b"online"], 20, "online")
    for i in range(3):
        drop(d.scan, f"up_{i}.jpg", scan_image(f"RUNNING {i}"))
    drop(d.scan, "line7/sub.jpg", scan_image("SUBFOLDER 7"))
    d.wait_results(4, 60)
    assert d.terminate() == 0
    sub.wait(lambda: sub.on("edge-ocr/test/available")[-1].payload == b"offline", 10, "offline on clean stop")
    for i in range(2):
        drop(d.scan, f"down_{i}.jpg", scan_image(f"STOPPED {i}"))
    d.start()
    d.wait_results(6, 60)
    sub.wait(lambda: len(sub.on("edge-ocr/test/result")) >= 6, 30, "6 published results")
    results = sub.json_on("edge-ocr/test/result")
    by_path = _by_path(results)
    assert sorted(by_path) == sorted(["up_0.jpg", "up_1.jpg", "up_2.jpg", "line7/sub.jpg", "down_0.jpg", "down_1.jpg"])
    assert all(len(v) == 1 for v in by_path.values()), {k: len(v) for k, v in by_path.items()}
    sub_result = by_path["line7/sub.jpg"][0]
    assert sub_result["source"]["subfolder"] == "line7" and sub_result["errorCode"] == 0
    assert "SUBFOLDER" in " ".join(sub_result["result"]["ocrResults"][0]["prunedResult"]["rec_texts"]).upper()
    assert (d.results / "line7" / "sub.json").exists() and (d.done / "line7" / "sub.jpg").exists()
    assert not [p for p in d.scan.rglob("*") if p.is_file()]
    assert d.terminate() == 0
    sub.close()


def test_kill9_mid_batch_loses_nothing(broker, tmp_path):
    sub = _sub(broker)
    d = Daemon(tmp_path / "box", broker.port)
    names = [f"batch_{i:02d}.jpg" for i in range(50)]
    for i, n in enumerate(names):
        drop(d.scan, n, scan_image(f"PAGE {i:02d}"))
    d.start()
    d.wait_results(12, 120)
    d.kill9()
    killed_at = len(d.result_files())
    d.start()
    files = d.wait_results(50, 240)
    sub.wait(lambda: len({r["source"]["path"] for r in sub.json_on("edge-ocr/test/result")}) >= 50, 60,
             "all 50 published")
    assert sorted(f.name for f in files) == sorted(n.replace(".jpg", ".json") for n in names)  # exactly one each
    by_path = _by_path(sub.json_on("edge-ocr/test/result"))
    assert sorted(by_path) == sorted(names)
    twice = {k: v for k, v in by_path.items() if len(v) > 1}
    assert all(len({r["id"] for r in v}) == 1 for v in twice.values())  # a repeat carries the same id
    assert sorted(p.name for p in d.done.iterdir()) == sorted(names)
    assert all(json.loads(f.read_text())["errorCode"] == 0 for f in files)
    print(f"kill -9 after {killed_at} results; published twice: {len(twice)}")
    assert d.terminate() == 0
    sub.close()


def test_broker_outage_delays_results_but_loses_none(broker, tmp_path):
    sub = _sub(broker)
    d = Daemon(tmp_path / "box", broker.port).start()
    sub.wait(lambda: sub.on("edge-ocr/test/available"), 20, "online")
    broker.stop()
    t0 = time.time()
    for i in range(5):
        drop(d.scan, f"outage_{i}.jpg", scan_image(f"OUTAGE {i}"))
    d.wait_results(5, 60)  # jobs finish while the broker is down
    time.sleep(max(0.0, 30 - (time.time() - t0)))
    assert len(sub.on("edge-ocr/test/result")) == 0
    broker.start()
    sub.wait(lambda: len(sub.json_on("edge-ocr/test/result")) >= 5, 60, "results after the broker came back")
    assert sorted(_by_path(sub.json_on("edge-ocr/test/result"))) == [f"outage_{i}.jpg" for i in range(5)]
    assert d.terminate() == 0
    sub.close()


def test_file_still_being_written_is_not_taken_early(tmp_path):
    d = Daemon(tmp_path / "box", folder={"settle_seconds": 1.0, "decode_retries": 3}).start()
    data = scan_image("SLOW WRITER 42", w=600)
    target = d.scan / "slow.jpg"
    d.scan.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as f:  # written in place, in pieces, with pauses longer than the settle time
        for k in range(0, len(data), len(data) // 4 + 1):
            f.write(data[k:k + len(data) // 4 + 1])
            f.flush()
            time.sleep(1.6)
    files = d.wait_results(1, 60)
    result = json.loads(files[0].read_text())
    assert result["errorCode"] == 0 and "WRITER" in " ".join(result["result"]["ocrResults"][0]["prunedResult"]["rec_texts"])
    assert not d.failed.exists() or not list(d.failed.iterdir())
    assert d.terminate() == 0


def test_bad_files_move_to_failed_with_an_error_json_and_serving_goes_on(tmp_path):
    d = Daemon(tmp_path / "box", folder={"settle_seconds": 0.2, "decode_retries": 1}).start()
    drop(d.scan, "notes.jpg", b"this is not an image")
    drop(d.scan, "empty.png", b"")
    (d.scan / ".DS_Store").write_bytes(b"junk")
    (d.scan / "Thumbs.db").write_bytes(b"junk")
    os.symlink("/etc/hostname", d.scan / "link.jpg")
    drop(d.scan, "good.jpg", scan_image("GOOD 1"))
    d.wait_results(1, 60)
    end = time.time() + 30
    while time.time() < end and len(list(d.failed.glob("*.error.json")) if d.failed.exists() else []) < 2:
        time.sleep(0.2)
    errors = {p.name: json.loads(p.read_text()) for p in d.failed.glob("*.error.json")}
    assert set(errors) == {"notes.jpg.error.json", "empty.png.error.json"}
    assert "not an image" in errors["notes.jpg.error.json"]["errorMsg"] and errors["notes.jpg.error.json"]["errorCode"] == 422
    assert (d.failed / "notes.jpg").exists() and (d.failed / "empty.png").exists()
    assert (d.scan / ".DS_Store").exists() and (d.scan / "link.jpg").is_symlink()  # ignored, refused: left alone
    assert "refusing" in d.log.read_text() and "symbolic links" in d.log.read_text()
    assert d.terminate() == 0


def _request(data: bytes, **fields) -> bytes:
    return json.dumps({"file": base64.b64encode(data).decode(), **fields}).encode()


def test_malformed_requests_get_error_results_and_the_daemon_keeps_serving(broker, tmp_path):
    sub = _sub(broker)
    d = Daemon(tmp_path / "box", broker.port, folder={"enabled": False}).start()
    sub.wait(lambda: sub.on("edge-ocr/test/available"), 20, "online")
    req = "edge-ocr/test/request"
    sub.publish(req, b"{not json")
    sub.publish(req, json.dumps({"id": "b64", "file": "%%%not base64%%%"}).encode())
    sub.publish(req, json.dumps({"id": "types", "file": base64.b64encode(scan_image("X")).decode(),
                                 "textDetThresh": "high", "visualize": [1]}).encode())
    sub.publish(req, json.dumps({"id": "unknown", "file": "", "colour": "red"}).encode())
    sub.publish(req, json.dumps(["a", "list"]).encode())
    sub.publish(req, json.dumps({"id": "huge", "file": "A" * 3_100_000}).encode())
    sub.publish(req, _request(scan_image("STILL SERVING 9"), id="good", fileType=1))
    sub.wait(lambda: len(sub.json_on("edge-ocr/test/result")) >= 7, 60, "7 answers")
    time.sleep(0.5)
    answers = sub.json_on("edge-ocr/test/result")
    assert len({a["jobId"] for a in answers}) == len(answers) == 7  # on a steady connection, each answer once
    by_id = {a["id"]: a for a in answers if a["id"] in ("b64", "types", "unknown", "huge", "good")}
    assert by_id["b64"]["errorCode"] == 422 and "base64" in by_id["b64"]["errorMsg"]
    assert by_id["types"]["errorCode"] == 422 and "textDetThresh" in by_id["types"]["errorMsg"]
    assert "visualize" in by_id["types"]["errorMsg"]
    assert "empty" in by_id["unknown"]["errorMsg"]  # an unknown field is ignored, as PaddleX's serving ignores it
    assert by_id["huge"]["errorCode"] == 413
    assert by_id["good"]["errorCode"] == 0
    assert "SERVING" in " ".join(by_id["good"]["result"]["ocrResults"][0]["prunedResult"]["rec_texts"])
    no_json = [a for a in answers if a["errorCode"] == 400]
    assert len(no_json) == 2 and any("not JSON" in a["errorMsg"] for a in no_json)
    assert d.proc.poll() is None
    assert d.terminate() == 0
    sub.close()


def test_mqtt5_response_topic_correlation_and_311_reply_topic(broker, tmp_path):
    sub = _sub(broker)
    replies = Subscriber(broker.port, "replies/#", "replies")
    d = Daemon(tmp_path / "box", broker.port, folder={"enabled": False}).start()
    sub.wait(lambda: sub.on("edge-ocr/test/available"), 20, "online")
    sub.publish("edge-ocr/test/request", _request(scan_image("HELLO V5"), id="v5", visualize=True),
                ResponseTopic="replies/kiosk1", CorrelationData=b"\x01corr-42")
    replies.wait(lambda: replies.on("replies/kiosk1"), 60, "MQTT 5 reply")
    msg = replies.on("replies/kiosk1")[0]
    assert msg.properties.CorrelationData == b"\x01corr-42"
    body = json.loads(msg.payload)
    assert body["id"] == "v5" and body["errorCode"] == 0 and body["result"]["ocrResults"][0]["ocrImage"]
    assert body["deviceId"] == "testbox" and body["profile"] == "x86-onnxruntime" and body["timings"]["det"] >= 0
    old = Subscriber(broker.port, "edge-ocr/test/none", "client311", protocol=mqtt.MQTTv311)
    old.publish("edge-ocr/test/request", _request(scan_image("HELLO V3"), id="v311", replyTopic="replies/old"))
    replies.wait(lambda: replies.on("replies/old"), 60, "3.1.1 reply topic")
    assert json.loads(replies.on("replies/old")[0].payload)["id"] == "v311"
    stats = sub.json_on("edge-ocr/test/stats")
    assert stats and {"queue_depth", "jobs_done", "jobs_failed", "latency_seconds"} <= set(stats[-1])
    assert d.terminate() == 0
    for c in (sub, replies, old):
        c.close()


def test_a_repeated_request_is_answered_again_never_run_twice_never_silent(broker, tmp_path):
    """The same id again: the stored answer again (identical, so not run again); the same id with other content:
    409; the same payload without an id from two MQTT 5 clients: each gets the answer on its own reply topic."""
    sub = _sub(broker)
    replies = Subscriber(broker.port, "replies/#", "replies")
    d = Daemon(tmp_path / "box", broker.port, folder={"enabled": False}).start()
    sub.wait(lambda: sub.on("edge-ocr/test/available"), 20, "online")
    results = lambda: sub.json_on("edge-ocr/test/result")  # noqa: E731
    payload = _request(scan_image("ONCE"), id="dup-1")
    sub.publish("edge-ocr/test/request", payload)
    sub.wait(lambda: len(results()) == 1, 60, "the first answer")
    sub.publish("edge-ocr/test/request", payload)
    sub.wait(lambda: len(results()) == 2, 60, "the answer again")
    first, again = results()
    assert first == again and first["errorCode"] == 0  # the stored answer: same logId, same timings
    sub.publish("edge-ocr/test/request", _request(scan_image("OTHER"), id="dup-1"))
    sub.wait(lambda: len(results()) == 3, 60, "the conflict")
    conflict = results()[2]
    assert conflict["errorCode"] == 409 and conflict["jobId"] == first["jobId"] and "new id" in conflict["errorMsg"]
    anonymous = _request(scan_image("NO ID"))
    sub.publish("edge-ocr/test/request", anonymous, ResponseTopic="replies/a", CorrelationData=b"a")
    replies.wait(lambda: replies.on("replies/a"), 60, "the first client's answer")
    sub.publish("edge-ocr/test/request", anonymous, ResponseTopic="replies/b", CorrelationData=b"b")
    replies.wait(lambda: replies.on("replies/b"), 60, "the second client's answer")
    a, b = replies.on("replies/a")[0], replies.on("replies/b")[0]
    assert json.loads(a.payload) == json.loads(b.payload) and b.properties.CorrelationData == b"b"
    assert d.terminate() == 0
    for c in (sub, replies):
        c.close()


def test_expired_request_is_not_processed(broker, tmp_path):
    """A backlog of scans ahead of it outlives the request's Message Expiry: it is answered 408, not run."""
    sub = _sub(broker)
    d = Daemon(tmp_path / "box", broker.port, folder={"settle_seconds": 0.1})
    for i in range(25):
        drop(d.scan, f"backlog_{i:02d}.jpg", scan_image(f"BACKLOG {i:02d}", w=1400, h=300))
    d.start()
    sub.wait(lambda: d.log.read_text().count("queued backlog_") == 25, 60, "the backlog in the journal")
    sub.publish("edge-ocr/test/request", _request(scan_image("STALE"), id="stale"), MessageExpiryInterval=1)
    sub.publish("edge-ocr/test/request", _request(scan_image("FRESH"), id="fresh"), MessageExpiryInterval=3600)
    sub.wait(lambda: {"stale", "fresh"} <= {r["id"] for r in sub.json_on("edge-ocr/test/result")}, 180, "answers")
    by_id = {r["id"]: r for r in sub.json_on("edge-ocr/test/result")}
    assert by_id["stale"]["errorCode"] == 408 and "expired" in by_id["stale"]["errorMsg"]
    assert "result" not in by_id["stale"]
    assert by_id["fresh"]["errorCode"] == 0
    assert d.terminate() == 0
    sub.close()


def test_will_says_offline_when_the_daemon_dies(broker, tmp_path):
    sub = _sub(broker)
    d = Daemon(tmp_path / "box", broker.port, folder={"enabled": False}).start()
    sub.wait(lambda: [m.payload for m in sub.on("edge-ocr/test/available")][-1:] == [b"online"], 20, "online")
    d.kill9()
    sub.wait(lambda: sub.on("edge-ocr/test/available")[-1].payload == b"offline", 30, "last will")
    late = Subscriber(broker.port, "edge-ocr/test/available", "late")
    late.wait(lambda: late.on("edge-ocr/test/available"), 10, "retained availability")
    assert late.on("edge-ocr/test/available")[-1].retain and late.on("edge-ocr/test/available")[-1].payload == b"offline"
    sub.close()
    late.close()


def test_shared_subscription_splits_requests_between_boxes(broker, tmp_path):
    sub = _sub(broker, prefix="plant")
    boxes = [Daemon(tmp_path / f"box{i}", broker.port, prefix="plant", device_id=f"box{i}",
                    folder={"enabled": False}, mqtt={"shared_group": "ocr", "client_id": f"box{i}"}).start()
             for i in range(2)]
    time.sleep(2)
    for i in range(12):
        sub.publish("plant/request", _request(scan_image(f"SHARE {i}"), id=f"s{i}"))
    sub.wait(lambda: len({r["id"] for r in sub.json_on("plant/result")}) >= 12, 120, "12 answers")
    results = sub.json_on("plant/result")
    assert sorted({r["id"] for r in results}) == sorted(f"s{i}" for i in range(12))
    assert len(results) == 12  # each request ran on exactly one box
    assert {r["deviceId"] for r in results} == {"box0", "box1"}
    for b in boxes:
        assert b.terminate() == 0
    sub.close()


def test_polling_mode_for_network_shares(tmp_path):
    """NFS/SMB mounts send no inotify events: with folder.polling the folder is polled instead."""
    d = Daemon(tmp_path / "box", folder={"polling": True, "poll_seconds": 0.5, "rescan_seconds": 3600}).start()
    drop(d.scan, "nfs/share_1.jpg", scan_image("POLLED 1"))
    files = d.wait_results(1, 60)
    assert files[0].relative_to(d.results).as_posix() == "nfs/share_1.json"
    assert d.terminate() == 0
