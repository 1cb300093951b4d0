"""A job is a typed object, one class per source: what to run, and what its answer's sinks need. Sources build it,
the journal stores it as JSON and validates it when it reads it back, the worker runs it, the sinks deliver it."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def new_log_id() -> str:
    return str(uuid.uuid4())


class Refusal(BaseModel):
    """A request refused at the door (malformed, over a limit): it is answered through the same path as a result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: int
    message: str


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    log_id: str = Field(default_factory=new_log_id)
    options: dict[str, Any] = Field(default_factory=dict, description="OcrOptions.given() of the request")
    page_limit: int | None = None
    visualize: bool = False
    kind: Literal["image", "pdf", "tiff"] | None = None
    refusal: Refusal | None = None

    @property
    def request_id(self) -> str | None:
        return None

    def source(self) -> dict:
        """The answer's `source` field."""
        raise NotImplementedError

    def label(self) -> str:
        """What a log line calls this job's input."""
        return ""


class FolderJob(_Job):
    type: Literal["folder"] = "folder"
    path: str = Field(description="the scan's path (may hold bytes that are not UTF-8, as surrogate escapes)")
    relpath: str = Field(description="path below the scan folder, the same way")
    name: str = Field(description="relpath as printable text, for logs and JSON")
    sha256: str = Field(description="the content that was queued")
    subfolder: str | None = None

    def source(self) -> dict:
        return {"type": "folder", "path": self.name, "subfolder": self.subfolder}

    def label(self) -> str:
        return self.name


class MqttJob(_Job):
    type: Literal["mqtt"] = "mqtt"
    topic: str
    id: str | None = Field(None, description="the request's id (echoed, and its idempotency key)")
    reply_topic: str | None = None
    correlation_b64: str | None = None
    content_sha256: str

    @property
    def request_id(self) -> str | None:
        return self.id

    def source(self) -> dict:
        return {"type": "mqtt", "topic": self.topic}

    def label(self) -> str:
        return self.id or ""


class HttpJob(_Job):
    type: Literal["http"] = "http"
    client: str | None = None

    def source(self) -> dict:
        return {"type": "http", "client": self.client}

    def label(self) -> str:
        return self.client or ""


JobSpec = Annotated[Union[FolderJob, MqttJob, HttpJob], Field(discriminator="type")]
SPEC = TypeAdapter(JobSpec)
