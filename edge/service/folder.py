"""Scan-folder source: inotify (watchdog) or polling, a start-up scan and periodic rescans; a file becomes a job
only once its size and mtime have settled and it decodes. Junk, symlinks and paths leaving the folder are refused.
"""
from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from ..config import JUNK, FolderConfig
from ..errors import InputError
from ..io.images import decode_image, sniff
from ..io.pdf import page_count
from .jobs import FolderJob
from .journal import Journal
from .logtext import display_name
from .sinks import move_original

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    size: int
    mtime: float
    stable_since: float
    failures: int = 0
    next_try: float = 0.0


class FolderSource:
    def __init__(self, cfg: FolderConfig, journal: Journal, *, queue_size: int, max_pixels: int,
                 excluded: list[Path]):
        self.cfg = cfg
        self.journal = journal
        self.root = cfg.path.resolve()
        self.queue_size = queue_size
        self.max_pixels = max_pixels
        self.excluded = [p.resolve() for p in excluded]
        self._candidates: dict[Path, Candidate] = {}
        self._lock = threading.Lock()
        self._warned: set[Path] = set()
        self._observer = None

    # -- discovery ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        observer = PollingObserver(timeout=self.cfg.poll_seconds) if self.cfg.polling else Observer()
        observer.schedule(_Events(self), str(self.root), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        log.info("watching %s (%s)", self.root,
                 f"polling every {self.cfg.poll_seconds:g} s" if self.cfg.polling else "inotify events")
        self.rescan()

    def stop(self) -> None:
        if self._observer:
            self._observer.stop()
            self._observer.join(timeout=5)

    def rescan(self) -> None:
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            d = Path(dirpath)
            dirnames[:] = [n for n in dirnames if not self._ignored(d / n)]
            for n in filenames:
                self.notice(d / n)

    def notice(self, path: Path) -> None:
        """A path may have changed: remember it and let the settle loop decide."""
        path = Path(path)
        if self._ignored(path):
            return
        with self._lock:
            self._candidates.setdefault(path, Candidate(-1, -1.0, time.monotonic()))

    def _ignored(self, path: Path) -> bool:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return True
        if any(_inside(path, ex) for ex in self.excluded):
            return True
        patterns = JUNK + list(self.cfg.ignore)
        return any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in patterns) or \
            any(fnmatch.fnmatch(rel.as_posix(), pat) for pat in self.cfg.ignore)

    def _refuse(self, path: Path, why: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            log.warning("refusing %s: %s", display_name(path), why)

    # -- admission ----------------------------------------------------------------------------------------------
    def poll(self) -> int:
        """One pass of the settle loop; returns the number of new jobs."""
        now = time.monotonic()
        added = 0
        with self._lock:
            items = list(self._candidates.items())
        for path, cand in items:
            if self.journal.counts()["queued"] >= self.queue_size:
                break  # the file waits in the folder; it is not lost
            try:
                verdict = self._check(path, cand, now)
                if verdict == "ready" and self._admit(path):
                    added += 1
            except Exception as e:  # one file's surprise must not keep the files behind it waiting
                log.exception("cannot take %s (%s); the next rescan tries it again", display_name(path), e)
                verdict = "gone"
            if verdict in ("gone", "ready"):
                with self._lock:
                    self._candidates.pop(path, None)
        return added

    def _check(self, path: Path, cand: Candidate, now: float) -> str:
        try:
            if path.is_symlink():
                self._refuse(path, "symbolic links are not followed")
                return "gone"
            real = path.resolve()
            if not _inside(real, self.root):
                self._refuse(path, "it resolves outside the scan folder")
                return "gone"
            st = path.stat()
        except FileNotFoundError:
            return "gone"
        if not path.is_file():
            return "gone"
        if (st.st_size, st.st_mtime) != (cand.size, cand.mtime):
            cand.size, cand.mtime, cand.stable_since = st.st_size, st.st_mtime, now
            return "wait"
        if now - cand.stable_since < self.cfg.settle_seconds or now < cand.next_try:
            return "wait"
        problem = self._decodes(path)
        if problem and cand.failures < self.cfg.decode_retries:
            cand.failures += 1  # a scanner may still be writing: try again after another settle period
            cand.next_try = now + max(self.cfg.settle_seconds, 0.5) * cand.failures
            log.info("%s does not decode yet (%s); retry %d/%d", display_name(path), problem, cand.failures,
                     self.cfg.decode_retries)
            return "wait"
        return "ready"  # a file that never decodes still becomes a job: it fails and moves to failed/

    def _decodes(self, path: Path) -> str | None:
        try:
            data = path.read_bytes()
            if sniff(data) == "pdf":
                page_count(data, path.name)
            else:
                decode_image(data, path.name, max_pixels=self.max_pixels)
        except InputError as e:
            return e.message
        except OSError as e:
            return e.strerror
        return None

    def _admit(self, path: Path) -> bool:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return False
        rel = path.relative_to(self.root)
        name = display_name(rel)
        spec = FolderJob(path=str(path), relpath=rel.as_posix(), name=name, sha256=digest,
                         subfolder=display_name(rel.parent) if rel.parent != Path(".") else None)
        job_id, new = self.journal.add(f"folder:{name}:{digest}", spec)
        if not new:
            job = self.journal.get(job_id)
            # Only once the worker has moved that job's original is a file here a new copy of it; before that it is
            # the original itself, and moving it is the worker's business.
            if job and job["settled"]:
                try:
                    move_original(spec, job_id, job["state"], self.cfg.done_dir, self.cfg.failed_dir,
                                  self.cfg.delete_done)
                    log.info("%s was processed before (job %s, same content): not run again, moved out", name, job_id)
                except OSError as e:
                    self._refuse(path, f"processed before (job {job_id}) but it cannot be moved out: {e.strerror or e}")
            return False
        log.info("queued %s as job %s", name, job_id)
        return True


class _Events(FileSystemEventHandler):
    def __init__(self, source: FolderSource):
        self.source = source

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            if event.event_type in ("created", "moved"):
                self.source.rescan()  # files moved in with their folder send no events of their own
            return
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p:
                self.source.notice(Path(os.fsdecode(p)))


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
