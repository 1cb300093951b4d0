"""Composition root of `edge-ocr run`: builds everything from the settings, runs it, shuts it down in order.

SIGTERM/SIGINT: stop taking new work, finish the current job, flush results, publish `offline`, exit 0.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from .config import Settings
from .service.folder import FolderSource
from .service.journal import Journal
from .service.sinks import Sinks
from .service.worker import Worker, WorkerContext

log = logging.getLogger(__name__)
PRUNE_AFTER_SECONDS = 14 * 24 * 3600


class Daemon:
    def __init__(self, settings: Settings, notifier=None):
        from .api import EdgeOCR  # loads OpenCV and the engines: only when a daemon is really built

        self.s = settings
        self.notify = notifier or (lambda **kw: None)  # systemd sd_notify when run as a service
        self.stop_event = threading.Event()
        for d in (settings.state_dir, settings.results.dir):
            Path(d).mkdir(parents=True, exist_ok=True)
        self.journal = Journal(Path(settings.state_dir) / "journal.sqlite3")
        self.notify(status="loading models")
        loading = time.monotonic()
        self.ocr = EdgeOCR(profile=settings.profile, models_dir=settings.models_dir,
                           max_pixels=settings.limits.max_pixels, max_pdf_pages=settings.limits.max_pdf_pages,
                           memory_mb=settings.limits.memory_mb, memory_policy=settings.limits.memory_policy,
                           **settings.ocr.given())  # [ocr] keys are EdgeOCR's own option names
        self.notify(status="warming up")
        self.ocr.warm_up()  # READY means the first real page is not also the slowest
        f = settings.folder
        result_topic = f"{settings.topic_prefix}/result" if settings.mqtt.enabled else None
        load_seconds = time.monotonic() - loading
        self.http = None
        waiter = metrics = None
        if settings.http.enabled:
            from .service.http import HttpServer, Waiter
            from .service.metrics import Metrics

            waiter = Waiter()
            metrics = Metrics(self.journal, load_seconds, lambda: self.worker.stats.paused is not None)
        self.sinks = Sinks(self.journal, results_dir=Path(settings.results.dir), done_dir=Path(f.done_dir),
                           failed_dir=Path(f.failed_dir), result_topic=result_topic, qos=settings.mqtt.qos,
                           delete_done=f.delete_done, save_images=settings.results.save_images,
                           http_waiter=waiter.finish if waiter else None)
        self.worker = Worker(WorkerContext(
            journal=self.journal, ocr=self.ocr, device_id=settings.device_id, sinks=self.sinks,
            crash_retries=settings.limits.crash_retries, on_job=metrics.job_finished if metrics else None,
            max_img_size=settings.results.max_output_img_size))
        if waiter:
            self.http = HttpServer(settings, self.journal, waiter, self.health, metrics)
        self.mqtt = None
        if settings.mqtt.enabled:
            from .service.mqtt import MqttService

            self.mqtt = MqttService(settings, self.journal, self.worker.stats)
        self.folder = None
        if f.enabled:
            self.folder = FolderSource(f, self.journal, queue_size=settings.limits.queue_size,
                                       max_pixels=settings.limits.max_pixels,
                                       excluded=[Path(f.done_dir), Path(f.failed_dir), Path(settings.results.dir),
                                                 Path(settings.state_dir)])

    def recover(self) -> None:
        n = self.journal.recover()
        if n:
            log.info("resuming %d job(s) interrupted by the last stop", n)
        self.sinks.settle_pending()
        pruned = self.journal.prune(PRUNE_AFTER_SECONDS)
        if pruned:
            log.info("forgot %d finished job(s) older than %d days", pruned, PRUNE_AFTER_SECONDS // 86400)

    def run(self) -> int:
        self.recover()
        threads = [threading.Thread(target=self.worker.run, args=(self.stop_event,), name="worker", daemon=True)]
        for t in threads:
            t.start()
        if self.mqtt:
            self.mqtt.start()
        if self.folder:
            self.folder.start()
        if self.http:
            self.http.start()
        log.info("edge-ocr %s ready: profile %s, scan folder %s, results %s%s", self.s.device_id, self.ocr.profile.name,
                 self.s.folder.path if self.folder else "(off)", self.s.results.dir,
                 (f", broker {self.s.mqtt.host}:{self.s.mqtt.port} prefix {self.s.topic_prefix}" if self.mqtt else "")
                 + (f", http://{self.s.http.host}:{self.s.http.port}/ocr" if self.http else ""))
        self.notify(ready=True, status="ready")
        next_rescan = time.monotonic() + self.s.folder.rescan_seconds
        while not self.stop_event.is_set():
            if self.folder:
                try:
                    self.folder.poll()
                    if time.monotonic() >= next_rescan:
                        self.sinks.settle_pending()  # originals that could not be moved before
                        self.folder.rescan()
                        next_rescan = time.monotonic() + self.s.folder.rescan_seconds
                except Exception:  # a file system surprise must not stop the service; the next pass retries
                    log.exception("scan folder pass failed; continuing")
            self.notify_watchdog()
            self.stop_event.wait(0.25)
        return self.shutdown(threads)

    def health(self) -> tuple[bool, dict]:
        """(healthy, why): the worker is alive and not paused on a storage fault."""
        alive = self.worker.alive(self.s.limits.job_timeout_seconds)
        paused = self.worker.stats.paused
        return alive and not paused, {"worker": "stuck" if not alive else ("paused" if paused else "working"),
                                      "paused": paused}

    def notify_watchdog(self) -> None:
        """WATCHDOG=1 only while the worker is alive: its loop beats twice a second when idle, and a job may run
        up to limits.job_timeout_seconds. A stuck worker stops the pings and systemd restarts the service."""
        if self.worker.alive(self.s.limits.job_timeout_seconds):
            self.notify(watchdog=True)

    def request_stop(self, *_args) -> None:
        if not self.stop_event.is_set():
            log.info("stopping: finishing the current job")
            self.notify(stopping=True, status="stopping")
        self.stop_event.set()

    def shutdown(self, threads: list[threading.Thread]) -> int:
        if self.http:
            self.http.stop()
        if self.folder:
            self.folder.stop()
        for t in threads:
            t.join()
        if self.mqtt:
            self.mqtt.stop(timeout=5.0)
        self.journal.close()
        log.info("stopped")
        return 0


def run_daemon(settings: Settings, notifier=None) -> int:
    try:
        daemon = Daemon(settings, notifier)
    except Exception as e:
        if notifier:
            notifier(status=f"failed to start: {e}")
        raise
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGINT, daemon.request_stop)
    return daemon.run()
