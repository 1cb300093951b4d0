"""Prometheus metrics for `GET /metrics`: jobs by source and state, job latency, queue and outbox depth, dead letters,
engine load time, memory. One registry per daemon (no process-global state)."""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ..memory import rss_bytes
from .journal import Journal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


class _Live:
    """Gauges read when scraped, from the journal and the process."""

    def __init__(self, journal: Journal, load_seconds: float, paused: Callable[[], bool]):
        self.journal, self.load_seconds, self.paused = journal, load_seconds, paused

    def collect(self):
        counts = self.journal.counts()
        for name, key, text in (("edge_ocr_queue_depth", "queued", "jobs waiting"),
                                ("edge_ocr_jobs_running", "running", "jobs running"),
                                ("edge_ocr_outbox_depth", "outbox", "MQTT messages not yet acknowledged by the broker"),
                                ("edge_ocr_dead_letters", "dead_letters", "messages the broker would not take")):
            yield GaugeMetricFamily(name, text, value=counts[key])
        yield GaugeMetricFamily("edge_ocr_engine_load_seconds", "time to load the models at start",
                                value=self.load_seconds)
        yield GaugeMetricFamily("edge_ocr_resident_memory_bytes", "resident memory of the service", value=rss_bytes())
        yield GaugeMetricFamily("edge_ocr_worker_paused", "1 while a storage fault pauses the worker",
                                value=1 if self.paused() else 0)


class Metrics:
    def __init__(self, journal: Journal, load_seconds: float, paused: Callable[[], bool]):
        self.registry = CollectorRegistry()
        self.jobs = Counter("edge_ocr_jobs", "finished jobs", ["source", "state"], registry=self.registry)
        self.latency = Histogram("edge_ocr_job_seconds", "from queued to finished", ["source"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_Live(journal, load_seconds, paused))

    def job_finished(self, source: str, state: str, seconds: float) -> None:
        self.jobs.labels(source, state).inc()
        self.latency.labels(source).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
