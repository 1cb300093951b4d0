"""Where a job's answer goes, chosen by the job's type: a folder job's result file and its original moved out of the
scan folder, MQTT outbox messages (the result topic and the requester's reply topic), the HTTP client waiting.

Order, chosen so a crash at any point loses nothing and duplicates nothing a subscriber can't tell apart:
result file (atomic) -> journal done + outbox (one transaction) -> original moved -> job marked settled.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..models import sha256_file
from .jobs import FolderJob, HttpJob
from .journal import Job, Journal, OutMessage

log = logging.getLogger(__name__)
SCHEMA_PROPERTY = ["schema", "edge-ocr/1"]


def mqtt_messages(body: bytes, result_topic: str | None, reply_topic: str | None, correlation_b64: str | None,
                  qos: int) -> list[OutMessage]:
    """The messages that carry one answer (none without a broker)."""
    if not result_topic:
        return []
    props = {"user": [SCHEMA_PROPERTY]}
    out = [OutMessage(result_topic, body, qos, props)]
    if reply_topic:
        reply_props = dict(props)
        if correlation_b64:
            reply_props["correlation_b64"] = correlation_b64
        out.append(OutMessage(reply_topic, body, qos, reply_props))
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """Write-then-rename, so a reader never sees half a file. The temporary name is short (a long original name plus
    a suffix would pass the file system's limit) and is removed when the write fails (a full disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{hashlib.sha1(os.fsencode(path.name)).hexdigest()[:16]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


NAME_MAX = 255  # bytes in one file name on Linux file systems


def fit_name(base: str, suffix: str) -> str:
    """base + suffix, shortened to the file system's limit when a long scan name plus the suffix would pass it (the
    cut keeps a hash of the whole base, so two long names do not meet)."""
    raw = os.fsencode(base)
    if len(raw) + len(os.fsencode(suffix)) <= NAME_MAX:
        return base + suffix
    tag = "~" + hashlib.sha1(raw).hexdigest()[:8]
    keep = NAME_MAX - len(os.fsencode(suffix)) - len(tag)
    return os.fsdecode(raw[:keep]) + tag + suffix


def free_name(target: Path, job_id: str) -> Path:
    """target, or target with the job id in its name when another file already has that name."""
    return target if not target.exists() else target.with_name(f"{target.stem}-{job_id[:8]}{target.suffix}")


def move_original(spec: FolderJob, job_id: str, state: str, done_dir: Path, failed_dir: Path, delete_done: bool) -> None:
    """Moves a folder job's original to done/ or failed/ (subfolders kept). A file dropped again under the same name
    while the job ran has other content: it is a job of its own and stays."""
    src = Path(spec.path)
    try:
        if sha256_file(src) != spec.sha256:
            return
        if state == "done" and delete_done:
            src.unlink()
            return
        target = free_name((done_dir if state == "done" else failed_dir) / spec.relpath, job_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(target))
    except FileNotFoundError:
        return  # already gone: moved by an earlier attempt, or removed by someone else


@dataclass
class Sinks:
    journal: Journal
    results_dir: Path
    done_dir: Path
    failed_dir: Path
    result_topic: str | None = None  # None without a broker
    qos: int = 1
    delete_done: bool = False
    save_images: bool = False
    http_waiter: Callable[[str, dict], None] | None = None  # hands an HTTP job's answer to its waiting client
    _settle_warned: set = field(default_factory=set)

    def deliver(self, job: Job, state: str, envelope: dict, pages: list) -> None:
        """Stores the answer and sends it where the job's type says. A storage fault propagates (the worker pauses
        and retries); everything after the journal transaction is safe to repeat."""
        spec = job.spec
        if isinstance(spec, FolderJob):
            self._write_file(job, spec, state, envelope, pages)
        messages = [] if isinstance(spec, HttpJob) else mqtt_messages(  # an HTTP client gets it on its connection
            json.dumps(envelope, ensure_ascii=False).encode("utf-8"), self.result_topic,
            getattr(spec, "reply_topic", None), getattr(spec, "correlation_b64", None), self.qos)
        self.journal.finish(job.id, state, envelope, messages)
        if isinstance(spec, FolderJob):
            self.settle(job.id, state, spec)
        self.answer_waiter(job.id, envelope)

    def answer_waiter(self, job_id: str, envelope: dict) -> None:
        if self.http_waiter:
            self.http_waiter(job_id, envelope)

    def _write_file(self, job: Job, spec: FolderJob, state: str, envelope: dict, pages: list) -> None:
        rel = Path(spec.relpath)
        text = json.dumps(envelope, ensure_ascii=False, indent=1).encode("utf-8")
        if state == "done":
            target = self.results_dir / rel.parent / fit_name(rel.stem, ".json")
            if target.exists() and _job_of(target) not in (job.id, None):
                target = free_name(target, job.id)
            write_atomic(target, text)
            if self.save_images:
                for page in pages:
                    page.save_to_img(target.parent)
        else:
            write_atomic(self.failed_dir / rel.parent / fit_name(rel.name, ".error.json"), text)

    def settle(self, job_id: str, state: str, spec: FolderJob) -> bool:
        """Moves the original out of the scan folder; safe to repeat after a crash. A file that cannot be moved
        (permissions, an immutable file, a read-only mount) stays unsettled and is tried again later: its result is
        stored, so the job is done either way."""
        try:
            move_original(spec, job_id, state, self.done_dir, self.failed_dir, self.delete_done)
        except OSError as e:
            key = (job_id, e.errno)
            if key not in self._settle_warned:
                self._settle_warned.add(key)
                log.error("job %s: cannot move %r out of the scan folder (%s); its result is stored. Give the service "
                          "write access to the file and to %s; it is moved by itself once that works",
                          job_id, spec.name, e.strerror or e, self.done_dir if state == "done" else self.failed_dir)
            return False
        self.journal.mark_settled(job_id)
        return True

    def settle_pending(self) -> int:
        """Settles the finished folder jobs whose originals are still in the folder; returns how many remain."""
        return sum(not self.settle(job_id, state, spec) for job_id, state, spec in self.journal.unsettled_folder_jobs())


def _job_of(result_file: Path) -> str | None:
    try:
        return json.loads(result_file.read_text(encoding="utf-8")).get("jobId")
    except (OSError, ValueError):
        return None
