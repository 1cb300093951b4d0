"""What <prefix>/stats reports about the worker."""
from __future__ import annotations

import collections
import statistics
import time
from dataclasses import dataclass, field

from .journal import Journal


@dataclass
class Stats:
    """What <prefix>/stats reports; only the worker thread writes it."""

    started: float = field(default_factory=time.time)
    done: int = 0
    failed: int = 0
    paused: str | None = None  # why the worker waits on a storage fault; None while it works
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))

    def snapshot(self, journal: Journal) -> dict:
        lat = sorted(self.latencies)
        counts = journal.counts()
        return {"uptime_seconds": round(time.time() - self.started, 1), "queue_depth": counts["queued"],
                "running": counts["running"], "outbox": counts["outbox"], "dead_letters": counts["dead_letters"],
                "jobs_done": self.done, "paused": self.paused,
                "jobs_failed": self.failed,
                "latency_seconds": {"mean": round(statistics.fmean(lat), 3) if lat else None,
                                    "p50": round(lat[len(lat) // 2], 3) if lat else None,
                                    "p95": round(lat[int(len(lat) * 0.95)], 3) if lat else None, "n": len(lat)}}
