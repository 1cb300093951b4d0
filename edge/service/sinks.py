"""Where answers go. MQTT answers are outbox messages: the result topic, and the requester's reply topic with its
MQTT 5 correlation data, both written in the same journal transaction as the job's state."""
from __future__ import annotations

from .journal import OutMessage

SCHEMA_PROPERTY = ["schema", "edge-ocr/1"]


def mqtt_messages(body: bytes, result_topic: str | None, reply_topic: str | None, correlation_b64: str | None,
                  qos: int) -> list[OutMessage]:
    """The messages that carry one answer (none without a broker)."""
    if not result_topic:
        return []
    props = {"user": [SCHEMA_PROPERTY]}
    out = [OutMessage(result_topic, body, qos, props)]
    if reply_topic:
        out.append(OutMessage(reply_topic, body, qos, {**props, **({"correlation_b64": correlation_b64}
                                                                 if correlation_b64 else {})}))
    return out
