"""MQTT: requests in (journaled before PUBACK), results out from the journal's outbox (removed on PUBACK),
retained availability with a last will, stats on an interval. paho-mqtt 2 with manual acknowledgements.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import ssl
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..config import Settings
from . import protocol
from .jobs import MqttJob, Refusal, new_log_id
from .journal import Journal, OutMessage
from .logtext import printable
from .sinks import mqtt_messages
from .stats import Stats

log = logging.getLogger(__name__)
SESSION_EXPIRY = 7 * 24 * 3600  # the broker keeps our subscription and queued requests this long while we are away
ID_NEAR_START = re.compile(rb'"id"\s*:\s*"([^"\\]{1,200})"')
PACKET_OVERHEAD = 512  # fixed header, topic length, properties (correlation data, user properties)


def _too_large_answer(m: OutMessage, reason: str) -> OutMessage | None:
    """The error answer sent in place of a result the broker cannot take (its id, job id and source kept)."""
    try:
        original = json.loads(m.payload)
    except ValueError:
        return None
    keep = ("id", "jobId", "source", "deviceId", "profile")
    answer = {**protocol.failure(original.get("logId") or new_log_id(), protocol.TOO_LARGE,
                                 f"the result is too large for the broker: {reason}; ask without visualize, or raise "
                                 "the broker's max_packet_size"),
              **{k: original[k] for k in keep if k in original}}
    return OutMessage(m.topic, json.dumps(answer, ensure_ascii=False).encode("utf-8"), m.qos, m.properties)


def _text_or_none(value: str) -> str | None:
    """An id to echo and key on, if it is text a journal and a JSON answer can hold."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return None


class MqttService:
    def __init__(self, settings: Settings, journal: Journal, stats: Stats):
        self.s = settings
        self.cfg = settings.mqtt
        self.journal = journal
        self.stats = stats
        self.prefix = settings.topic_prefix
        self.v5 = self.cfg.protocol == "5"
        self.connected = threading.Event()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._early: set[int] = set()  # PUBACKs that arrived before publish() returned the mid
        self._inflight_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._max_packet: int | None = None  # the broker's Maximum Packet Size (MQTT 5 CONNACK)
        self.client = self._make_client()

    @property
    def request_topic(self) -> str:
        return f"{self.prefix}/request"

    @property
    def result_topic(self) -> str:
        return f"{self.prefix}/result"

    def _make_client(self) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.s.client_id,
                        protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
                        clean_session=None if self.v5 else False, manual_ack=True)
        if self.cfg.username:
            c.username_pw_set(self.cfg.username, self.cfg.password.get_secret_value() if self.cfg.password else None)
        if self.cfg.tls:
            t = self.cfg.tls
            c.tls_set(ca_certs=str(t.ca_certs) if t.ca_certs else None, certfile=str(t.certfile) if t.certfile else None,
                      keyfile=str(t.keyfile) if t.keyfile else None, cert_reqs=ssl.CERT_REQUIRED)
            c.tls_insecure_set(t.insecure)
        c.enable_logger(logging.getLogger("edge.service.mqtt.paho"))  # paho reports callback exceptions here
        c.will_set(f"{self.prefix}/available", "offline", qos=1, retain=True)
        c.reconnect_delay_set(1, int(self.cfg.reconnect_max_seconds))
        c.max_inflight_messages_set(20)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        return c

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive,
                                  clean_start=False if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY, properties=props)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="mqtt-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Flushes what the broker can take within timeout, publishes offline, disconnects."""
        end = time.monotonic() + timeout
        while self.connected.is_set() and self.journal.counts()["outbox"] and time.monotonic() < end:
            time.sleep(0.1)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        if self.connected.is_set():
            info = self.client.publish(f"{self.prefix}/available", "offline", qos=1, retain=True)
            info.wait_for_publish(timeout=max(0.5, end - time.monotonic()))
            self.client.disconnect()
        self.client.loop_stop()

    # -- callbacks (paho's network thread) ---------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:  # a refusal is not "connected"
            log.error("broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        log.info("connected to %s:%d as %s", self.cfg.host, self.cfg.port, self.s.client_id)
        self._max_packet = getattr(properties, "MaximumPacketSize", None) if properties else None
        # The outbox is the one resend mechanism: paho would otherwise republish its own unacknowledged copies first,
        # and one the broker refuses would drop every new connection before the outbox could set it aside.
        client.drop_out_messages()
        client.publish(f"{self.prefix}/available", "online", qos=1, retain=True)
        topic = self.request_topic
        if self.cfg.shared_group:
            topic = f"$share/{self.cfg.shared_group}/{topic}"
        client.subscribe(topic, qos=self.cfg.qos)
        with self._inflight_lock:
            self._inflight.clear()  # anything not PUBACKed is still in the outbox and is published again
            self._early.clear()
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            log.warning("disconnected from the broker (%s); reconnecting with back-off", reason_code)
        self.connected.clear()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            self._record(msg)
        except Exception:  # the journal could not take it (disk full?): no PUBACK, the broker delivers it again
            log.exception("could not record the request on %s; it stays with the broker", msg.topic)
            return
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)  # PUBACK only once the job is in the journal

    def _record(self, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        props = getattr(msg, "properties", None)
        correlation = getattr(props, "CorrelationData", None) if props else None
        expiry = getattr(props, "MessageExpiryInterval", None) if props else None
        payload = msg.payload
        job: dict = {"topic": msg.topic, "content_sha256": hashlib.sha256(payload).hexdigest(),
                     "correlation_b64": base64.b64encode(correlation).decode() if correlation else None}
        body = None
        try:
            reply = getattr(props, "ResponseTopic", None) if props else None
            if reply is not None:
                job["reply_topic"] = protocol.publish_topic(reply, "Response Topic")
            if len(payload) > self.s.limits.max_payload_bytes:
                m = ID_NEAR_START.search(payload[:4096])  # echo the id without parsing megabytes
                job["id"] = _text_or_none(m.group(1).decode("utf-8", "replace")) if m else None
                raise protocol.RequestError(protocol.TOO_LARGE, f"request of {len(payload)} bytes is over the limit "
                                                                f"of {self.s.limits.max_payload_bytes}")
            data = protocol.loads(payload)
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                job["id"] = _text_or_none(data["id"])  # echoed even when the rest of the request is bad
                protocol.utf8_text(data["id"], "id")
            if isinstance(data, dict) and isinstance(data.get("replyTopic"), str) and reply is None:
                job["reply_topic"] = protocol.publish_topic(data["replyTopic"], "replyTopic")
            req = protocol.parse_request(data, protocol.MqttRequest)
            body, kind = protocol.decode_file(req)
            job.update(options=req.options().given(), kind=kind, visualize=bool(req.visualize),
                       **({"log_id": req.logId} if req.logId else {}))
        except protocol.RequestError as e:
            job["refusal"] = Refusal(code=e.code, message=e.message)
            body = None
        except Exception as e:  # a request that trips a bug is still answered, not dropped
            log.exception("unexpected error reading a request")
            job["refusal"] = Refusal(code=protocol.INTERNAL, message=f"internal error reading the request: {e}")
            body = None
        spec = MqttJob(**job)
        key = f"mqtt:{spec.id}" if spec.id else f"mqtt:sha256:{spec.content_sha256}"
        deadline = now + expiry if expiry else None
        job_id, new = self.journal.add(key, spec, payload=body, deadline=deadline)
        if new:
            log.info("request %s queued as job %s", printable(spec.id or "(no id)"), job_id)
        else:
            self._answer_repeat(job_id, spec)

    def _answer_repeat(self, job_id: str, spec: MqttJob) -> None:
        """A request whose id (or, without one, whose content) was seen: the stored answer again, to this request's
        reply topic too; a 409 when the same id came with other content; nothing yet while the first still runs
        (its answer goes out when it finishes)."""
        first = self.journal.get(job_id)
        if first is None:  # pruned between the two reads: nothing to repeat
            return
        label = printable(spec.id or "(no id)")
        if first["spec"] is not None and first["spec"].content_sha256 != spec.content_sha256:
            log.warning("request id %s was used before for other content (job %s): answered 409", label, job_id)
            answer = {**protocol.failure(spec.log_id, protocol.CONFLICT,
                                         f"id {spec.id!r} was already used for a different request (job {job_id}); "
                                         "send a new id for new content"),
                      "id": spec.id, "jobId": job_id, "source": spec.source(), "deviceId": self.s.device_id}
        elif first["result"] is not None:
            log.info("request %s repeats job %s: its answer is sent again", label, job_id)
            answer = first["result"]
        else:
            log.info("request %s repeats job %s, which has not finished; its answer will come", label, job_id)
            return
        body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        self.journal.send(job_id, mqtt_messages(body, self.result_topic, spec.reply_topic, spec.correlation_b64,
                                                self.cfg.qos))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._inflight_lock:
            seq = self._inflight.get(mid)
            if seq is None:
                self._early.add(mid)
                return
        # delete the row first, then forget the mid: in between, the publisher still sees it as in flight
        self.journal.delivered(seq)
        with self._inflight_lock:
            self._inflight.pop(mid, None)

    # -- outbox and stats ---------------------------------------------------------------------------------------
    def _publisher(self) -> None:
        next_stats = time.monotonic()
        while not self._stop.is_set():
            if not self.connected.is_set():
                self._stop.wait(0.2)
                continue
            with self._inflight_lock:
                busy = set(self._inflight.values())
            pending = self.journal.pending(exclude=busy, limit=max(1, 20 - len(busy)))
            if any(m.attempts for m in pending):
                # Messages that were in flight when a connection died go one at a time until they are through, so
                # only the one the broker refuses collects attempts, not the innocent ones sent beside it.
                pending = [] if busy else pending[:1]
            for m in pending:
                if self._refused(m):
                    continue
                self.journal.publishing(m.seq)
                info = self.client.publish(m.topic, m.payload, qos=m.qos, properties=self._props(m.properties))
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # not connected after all; the row stays in the outbox
                with self._inflight_lock:
                    acked = m.qos == 0 or info.mid in self._early
                    self._early.discard(info.mid)
                    if not acked:
                        self._inflight[info.mid] = m.seq
                if acked:
                    self.journal.delivered(m.seq)
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + self.cfg.stats_seconds
                self.client.publish(f"{self.prefix}/stats", json.dumps(self.stats.snapshot(self.journal)), qos=0)
            self.journal.wait_for_outbox(0.2)

    def _refused(self, m: OutMessage) -> bool:
        """Moves a message the broker will not take to the dead letters (counted in stats): one the broker dropped
        the connection on max_publish_attempts times, or one larger than its Maximum Packet Size, which is
        answered with a small error result instead."""
        reason, replacement = None, None
        if m.attempts >= self.cfg.max_publish_attempts:
            reason = (f"published {m.attempts} times, the connection was lost each time before the broker "
                      "acknowledged it")
        elif self._max_packet and len(m.payload) + len(m.topic.encode()) + PACKET_OVERHEAD > self._max_packet:
            reason = f"{len(m.payload)} bytes is over the broker's maximum packet size of {self._max_packet}"
            replacement = _too_large_answer(m, reason)
        if reason is None:
            return False
        log.error("result for job %s on %s moved to the dead letters: %s", m.job_id, m.topic, reason)
        self.journal.dead_letter(m, reason, replacement)
        return True

    def _props(self, spec: dict | None) -> Properties | None:
        if not self.v5 or not spec:
            return None
        p = Properties(PacketTypes.PUBLISH)
        if spec.get("correlation_b64"):
            p.CorrelationData = base64.b64decode(spec["correlation_b64"])
        if spec.get("user"):
            p.UserProperty = [tuple(u) for u in spec["user"]]
        p.ContentType = "application/json"
        return p
