"""The worker: one thread owns the predictors, claims journal jobs, runs OCR and builds one answer per job, which the
sinks deliver. A storage fault pauses it; a stop request ends a job between pages."""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import EdgeError, InputError
from . import protocol
from .jobs import FolderJob
from .journal import Job, Journal
from .logtext import display_name, printable
from .sinks import Sinks
from .stats import Stats

log = logging.getLogger(__name__)
STORAGE_FAULTS = (OSError, sqlite3.OperationalError)  # full, read-only or unwritable disks: wait, do not fail the job
MIN_PAUSE, MAX_PAUSE = 1.0, 60.0


class Interrupted(BaseException):
    """The service is stopping between two pages of a job (a BaseException, so no handler takes it for a failure)."""

    def __init__(self, pages: int):
        super().__init__(pages)
        self.pages = pages


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename:
        return f"{e.strerror or e} ({display_name(e.filename)})"
    return str(e)


@dataclass
class _Ahead:
    job_id: str
    thread: threading.Thread | None = None
    result: object = None  # edge.api.Ahead, or None for a PDF or a look-ahead that failed


@dataclass
class WorkerContext:
    journal: Journal
    ocr: object  # edge.api.EdgeOCR
    device_id: str
    sinks: Sinks
    crash_retries: int = 2  # runs of a job that stopped the service, after the first, before it is failed
    max_img_size: tuple[int, int] | None = (2000, 2000)  # answers' images are scaled down to fit (PaddleX's rule)
    on_job: Callable[[str, str, float], None] | None = None  # (source, state, seconds since queued): metrics


class Worker:
    def __init__(self, ctx: WorkerContext):
        self.ctx = ctx
        self.stats = Stats()
        self.last_beat = time.monotonic()  # the systemd watchdog pings only while this moves
        self.current: str | None = None
        self.job_started = 0.0
        self._stop: threading.Event | None = None
        self._stuck: str | None = None  # a job to put back in the queue once the journal takes writes again
        self._used = False  # jobs ran since memory was last released: a stream keeps its buffers until it pauses
        self._ahead: _Ahead | None = None  # the next queued scan's front half, computed while this one is recognised

    def alive(self, job_timeout: float) -> bool:
        now = time.monotonic()
        if self.current is not None:
            return now - self.job_started < job_timeout
        return now - self.last_beat < 5.0

    def run(self, stop: threading.Event) -> None:
        """Claims and runs jobs until stopped. A storage fault (a full or read-only disk under the results, done or
        failed folders or the journal) pauses the worker and puts the job back, without counting it as a run; it
        goes on by itself once the fault is gone."""
        self._stop = stop
        pause = 0.0
        while not stop.is_set():
            self.last_beat = time.monotonic()
            if pause:
                self._rest(pause)
                if self._stuck is not None and not self._requeue(self._stuck):
                    pause = min(pause * 2, MAX_PAUSE)
                    continue
            try:
                job = self.ctx.journal.claim(timeout=0.5)
            except sqlite3.Error as e:
                pause = self._paused(pause, f"the journal {self.ctx.journal.path} refuses work: {e}")
                continue
            if job is None:
                self._take_ahead(None)
                if self._used:  # idle now: hand back what the last jobs' biggest page took
                    self._used = False
                    try:
                        self.ctx.ocr.release_memory(deep=True)
                    except Exception:  # memory stays taken; serving goes on
                        log.exception("could not release the engines' working memory")
                continue
            self.current, self.job_started, self._used = job.id, time.monotonic(), True
            try:
                self.process(job)
                pause, self.stats.paused = 0.0, None
            except Interrupted as e:
                self._requeue(job.id)
                log.info("stopping: job %s put back after %d page(s); it goes on from there after the restart", job.id,
                         e.pages)
            except STORAGE_FAULTS as e:
                self._stuck = job.id
                pause = self._paused(pause, f"cannot store the result of job {job.id}: {_describe(e)}")
                self._requeue(job.id)
            except Exception as e:  # a bug while storing: record it, keep serving
                log.exception("job %s: could not store its result", job.id)
                self._give_up(job, e)
            finally:
                self.current = None

    def _rest(self, seconds: float) -> None:
        """Waits out a pause while still beating: a paused worker is alive (systemd must not restart it for that)."""
        end = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < end:
            self.last_beat = time.monotonic()
            self._stop.wait(min(0.5, end - time.monotonic()))

    def _paused(self, pause: float, why: str) -> float:
        pause = min(max(pause * 2, MIN_PAUSE), MAX_PAUSE)
        self.stats.paused = why
        log.error("%s. Paused; trying again in %.0f s (free space, or give the service write access). Nothing is lost: "
                  "the job waits in the journal", why, pause)
        return pause

    def _requeue(self, job_id: str) -> bool:
        try:
            self.ctx.journal.requeue(job_id)
        except sqlite3.Error:
            return False
        self._stuck = None
        return True

    def _give_up(self, job: Job, e: Exception) -> None:
        envelope = protocol.failure(job.spec.log_id, protocol.INTERNAL,
                                    f"could not store the result: {type(e).__name__}: {e}")
        try:
            self.ctx.journal.finish(job.id, "failed", envelope, [])
            self.stats.failed += 1
        except Exception:
            log.exception("job %s: the journal refused too; it is retried after a restart", job.id)
        self.ctx.sinks.answer_waiter(job.id, envelope)

    # -- the next scan's front half, overlapping this one's recognition ------------------------------------------
    def _may_look_ahead(self, job: Job) -> bool:
        """Only where the engine gains from overlapping pages, and only beside a job with no crash behind it: a crash
        while two jobs are in flight counts against the claimed one, so after one, each job runs alone until it has
        been judged on its own (and never with crash_retries = 0, where one count fails a job)."""
        return bool(getattr(self.ctx.ocr, "pipelined", False)) and job.attempts == 1 and self.ctx.crash_retries > 0

    def _look_ahead(self) -> None:
        """Called on the pipeline's front thread once this job's last page is detected: starts the next queued
        one-page scan's decode and detection in a thread of its own. The next job is only looked at, not claimed: if
        it crashes the service now, the claimed job takes the count, and runs alone next time."""
        nxt = self.ctx.journal.peek()
        if nxt is None or nxt.attempts > 0 or nxt.spec.refusal:  # attempts: it ran before (a crash, a stop)
            return
        try:
            spec = nxt.spec
            if isinstance(spec, FolderJob):
                data, name, path = read_scan(spec.path, spec.sha256, spec.name), spec.name, spec.path
            else:
                data, name, path = nxt.payload, "file", None
        except Exception:  # the job itself will meet (and report) whatever is wrong with its input
            return
        if not data:
            return
        ahead = _Ahead(nxt.id)

        def run() -> None:
            try:
                ahead.result = self.ctx.ocr.ahead(data, input_name=name, input_path=path, **nxt.spec.options)
            except Exception:  # the job runs the ordinary way and meets the error there
                log.debug("look-ahead of job %s failed", nxt.id, exc_info=True)

        ahead.thread = threading.Thread(target=run, name="edge-ahead", daemon=True)
        self._ahead = ahead
        ahead.thread.start()

    def _take_ahead(self, job: Job | None):
        """The front half computed for this job, if any; a look-ahead for another job is waited for and dropped (the
        models' front half must be free before anything else uses it)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        ahead.thread.join()
        return ahead.result if job is not None and ahead.job_id == job.id else None

    # -- one job ----------------------------------------------------------------------------------------------
    def process(self, job: Job) -> None:
        ctx = self.ctx
        t0 = time.time()
        spec = job.spec
        log_id = spec.log_id
        pages, answers, timings, kind, ahead = [], [], {}, spec.kind, None
        try:
            crashes = job.attempts - 1  # every earlier claim of this job ended with the service dying
            if crashes > ctx.crash_retries:
                log.error("job %s stopped the service %d times; failing it without another run", job.id, crashes)
                raise protocol.RequestError(protocol.INTERNAL, (
                    f"processing this input stopped the service {crashes} times (a crash or an out-of-memory kill), "
                    "so it was not run again; the input is kept. Try a smaller or lower-resolution page, or raise "
                    "the device's memory limit"))
            if crashes:
                log.warning("job %s: run %d; the service stopped during its last run", job.id, job.attempts)
            if job.deadline is not None and time.time() > job.deadline:
                raise protocol.RequestError(protocol.EXPIRED, "request expired (MQTT message expiry) before it could "
                                                              "be processed; not run")
            if spec.refusal:  # rejected at the door (malformed request): answered through the same path
                raise protocol.RequestError(spec.refusal.code, spec.refusal.message)
            if isinstance(spec, FolderJob):
                item, name, path = read_scan(spec.path, spec.sha256, spec.name), spec.name, spec.path
            else:
                item, name, path = job.payload, "file", None  # "file": the request's field
            kept = ctx.journal.kept_pages(job.id)  # pages done before the service last stopped
            if kept:
                log.info("job %s goes on from page %d", job.id, len(kept) + 1)
            answers = list(kept)
            ahead = self._take_ahead(job)
            # a job that was running when the service died runs alone: nothing else is started beside it
            look = self._look_ahead if self._may_look_ahead(job) else None
            for page in ctx.ocr.predict_iter(ahead or item, page_limit=spec.page_limit, input_name=name,
                                             input_path=path, page_start=len(kept), release=False, after_fronts=look,
                                             **spec.options):
                if not page.ok:
                    raise page.exception
                pages.append(page)
                answers.append(protocol.page_answer(page, spec.visualize, ctx.max_img_size))
                if self._stop is not None and self._stop.is_set():  # a long PDF must not outlast TimeoutStopSec
                    ctx.journal.keep_pages(job.id, len(kept), answers[len(kept):])
                    raise Interrupted(len(answers))
            if not answers:
                raise InputError("the input has no pages")
            kind = kind or protocol.kind_of(item)
            for a in answers:
                for k, v in a["timings"].items():
                    timings[k] = round(timings.get(k, 0.0) + v, 4)
            response = protocol.success(log_id, answers, kind)
            state = "done"
        except protocol.RequestError as e:
            response, state = protocol.failure(log_id, e.code, e.message), "failed"
        except InputError as e:
            msg = e.message + (f" ({e.hint})" if e.hint else "")
            response, state = protocol.failure(log_id, protocol.input_error_code(e), msg), "failed"
        except EdgeError as e:
            log.error("job %s: %s", job.id, e)
            response, state = protocol.failure(log_id, protocol.UNAVAILABLE, e.message), "failed"
        except Exception as e:  # a bug, not the input: report it, keep serving
            log.exception("job %s: internal error", job.id)
            response, state = protocol.failure(log_id, protocol.INTERNAL, f"internal error: {type(e).__name__}: {e}"), "failed"
        timings["job_total"] = round(time.time() - t0, 4)
        envelope = {**response, "id": spec.request_id or job.id, "jobId": job.id, "source": spec.source(),
                    "deviceId": ctx.device_id, "profile": ctx.ocr.profile.name, "timings": timings}
        warnings = [w for a in answers for w in a["item"].get("warnings", [])]
        if warnings:
            envelope["warnings"] = warnings
        ctx.sinks.deliver(job, state, envelope, pages)
        log.info("job %s %s %s: %s, %d page(s), %.2f s%s%s", job.id, job.source, printable(spec.label()), state,
                 len(answers), timings["job_total"], " (detected ahead)" if ahead else "",
                 "" if state == "done" else f" ({envelope['errorCode']}: {printable(envelope['errorMsg'])[:200]})")
        if state == "done":
            self.stats.done += 1
        else:
            self.stats.failed += 1
        self.stats.latencies.append(time.time() - job.created)
        if ctx.on_job:
            ctx.on_job(job.source, state, time.time() - job.created)


def read_scan(path: str, sha256: str, name: str) -> bytes:
    """A queued scan, read once through one descriptor: not through a symlink put in its place after it was queued
    (O_NOFOLLOW), only a regular file, and only the content that was queued."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{name}: the file was removed after it was queued") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(f"{name}: replaced by a symbolic link after it was queued; links are not followed") from None
        raise InputError(f"{name}: cannot read ({e.strerror})", hint="give the service read access to it") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError(f"{name}: not a regular file")
        data = f.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InputError(f"{name}: the file changed after it was queued",
                         hint="the new content is taken as a job of its own once it settles")
    return data
