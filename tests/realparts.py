"""Real parts for service tests: a mosquitto broker on a free loopback port, the daemon as a subprocess, an MQTT
subscriber with a persistent session, and generated scan images."""
from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str:
    for p in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if p and os.path.exists(p):
            return p
    raise RuntimeError("mosquitto is not installed: run scripts/install-system-packages.sh (apt-get install mosquitto)")


class Broker:
    """mosquitto with persistence, so persistent sessions and queued QoS 1 messages survive a restart."""

    def __init__(self, workdir: Path, extra: str = ""):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        conf = self.dir / "mosquitto.conf"
        import getpass

        # started as root, mosquitto drops to user "mosquitto" and could not write its persistence file here
        conf.write_text(f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                        f"persistence_location {self.dir}/\nmax_queued_messages 10000\n"
                        f"message_size_limit 0\nlog_dest file {self.dir}/mosquitto.log\n{extra}")
        self.conf = conf

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Subscriber:
    """Collects every message under a topic filter; persistent session so nothing is missed across reconnects."""

    def __init__(self, port: int, topic: str, client_id: str, protocol: int = mqtt.MQTTv5):
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.topic = topic
        self.v5 = protocol == mqtt.MQTTv5
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                                  clean_session=None if self.v5 else False)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, keepalive=10, clean_start=False if self.v5 else 3, properties=props)
        self.client.loop_start()
        self.wait(lambda: self.client.is_connected(), 10, "subscriber connected")
        time.sleep(0.3)

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append(msg)

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def json_on(self, topic: str) -> list[dict]:
        return [json.loads(m.payload) for m in self.on(topic)]

    def wait(self, predicate, timeout: float, what: str):
        end = time.time() + timeout
        while time.time() < end:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def publish(self, topic: str, payload, qos: int = 1, **props) -> None:
        p = None
        if props and self.v5:
            p = Properties(PacketTypes.PUBLISH)
            for k, v in props.items():
                setattr(p, k, v)
        self.client.publish(topic, payload, qos=qos, properties=p).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def local_http_server(answer_get) -> http.server.ThreadingHTTPServer:
    """A real HTTP server on a free loopback port whose GET is answered by answer_get(handler)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            answer_get(self)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_files(folder: Path) -> http.server.ThreadingHTTPServer:
    """local_http_server answering GET /<name> with that file of `folder` (404 otherwise)."""
    def answer(h):
        path = folder / h.path.lstrip("/").split("?")[0]
        if not path.is_file():
            h.send_response(404)
            h.end_headers()
            return
        h.send_response(200)
        h.end_headers()
        h.wfile.write(path.read_bytes())

    return local_http_server(answer)


def scan_image(text: str, w: int = 360, h: int = 90) -> bytes:
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.putText(img, text, (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 3)
    return cv2.imencode(".jpg", img)[1].tobytes()


def drop(folder: Path, name: str, data: bytes) -> Path:
    """As a scanner's upload should: write under a temporary name, then rename into place."""
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".part")
    tmp.write_bytes(data)
    tmp.rename(p)
    return p


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class MemoryCage:
    """A memory cgroup with a hard limit: a process in it that takes more is killed by the kernel's OOM killer, a real
    crash as a board with too little memory would see it. cgroup v2 (memory.max) or v1 (memory.limit_in_bytes)."""

    def __init__(self, name: str, limit_mb: int):
        self.dir = None
        v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory")
        if "memory" in _read(v2 / "cgroup.controllers").split():
            root, limit_file = v2, "memory.max"
        elif (v1 / "memory.limit_in_bytes").exists():
            root, limit_file = v1, "memory.limit_in_bytes"
        else:
            return
        try:
            (root / name).mkdir(exist_ok=True)
            (root / name / limit_file).write_text(str(limit_mb * 2**20))
        except OSError:
            return
        self.dir = root / name

    @property
    def available(self) -> bool:
        return self.dir is not None

    def enter(self) -> None:
        """preexec_fn: the child joins the cage before it execs."""
        (self.dir / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        if self.dir:
            for _ in range(50):
                try:
                    self.dir.rmdir()
                    return
                except OSError:
                    time.sleep(0.1)


class Daemon:
    """`edge-ocr run` as a real subprocess with its own config file and working folder."""

    def __init__(self, workdir: Path, broker_port: int | None = None, prefix: str = "edge-ocr/test", **sections):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.scan = self.dir / "scan"
        self.results = self.dir / "results"
        self.done = self.dir / "done"
        self.failed = self.dir / "failed"
        self.log = self.dir / "daemon.log"
        self.prefix = prefix
        cfg = {"profile": "x86-onnxruntime", "state_dir": str(self.dir / "state"), "device_id": "testbox",
               "folder": {"path": str(self.scan), "done_dir": str(self.done), "failed_dir": str(self.failed),
                          "settle_seconds": 0.5, "rescan_seconds": 5, "decode_retries": 2},
               "results": {"dir": str(self.results)}, "limits": {"max_payload_bytes": 3_000_000}}
        if broker_port:
            cfg["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": broker_port, "topic_prefix": prefix,
                           "stats_seconds": 1, "keepalive": 5, "reconnect_max_seconds": 1}
        for section, values in sections.items():
            if isinstance(values, dict):
                cfg.setdefault(section, {}).update(values)
            else:
                cfg[section] = values
        self.config = self.dir / "config.toml"
        self.config.write_text(_toml(cfg))
        self.proc: subprocess.Popen | None = None

    def start(self, wait_ready: bool = True, cage: MemoryCage | None = None) -> "Daemon":
        self._logf = open(self.log, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(self.config)],
                                     stdout=self._logf, stderr=subprocess.STDOUT, cwd=self.dir,
                                     preexec_fn=cage.enter if cage else None)
        if wait_ready:
            end = time.time() + 120
            while "ready:" not in self.log.read_text():
                if self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
                if time.time() > end:
                    raise AssertionError("daemon not ready:\n" + self.log.read_text()[-3000:])
                time.sleep(0.1)
        return self

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self._logf.close()
        return rc

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._logf.close()

    def result_files(self) -> list[Path]:
        return sorted(p for p in self.results.rglob("*.json")) if self.results.exists() else []

    def wait_results(self, n: int, timeout: float) -> list[Path]:
        end = time.time() + timeout
        while time.time() < end:
            files = self.result_files()
            if len(files) >= n:
                return files
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"{len(self.result_files())}/{n} results after {timeout}s:\n{self.log.read_text()[-3000:]}")


def _toml(d: dict, prefix: str = "") -> str:
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    out = "\n".join(lines) + "\n"
    for k, v in tables:
        name = f"{prefix}{k}"
        out += f"\n[{name}]\n" + _toml(v, prefix=f"{name}.")
    return out
