"""Two pages in flight: the front half (decode, detection) of the next page runs while the current page is
recognised. Recognition is most of a page's time and detection is a different model, so on a 2-core board the
cores stay busy; at most two pages are alive, which the memory model counts.

Each half runs the same code on the same inputs as the serial path, one page at a time per model, so the results
are the same bytes; only the overlap changes.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterator, TypeVar

F = TypeVar("F")
R = TypeVar("R")
_DONE = object()


class _Failed(Generic[F]):
    def __init__(self, error: BaseException):
        self.error = error


def pipelined(fronts: Iterator[F], back: Callable[[F], R], depth: int = 1) -> Iterator[R]:
    """Yields back(f) for every f of `fronts`, computing up to `depth` fronts ahead in a worker thread.

    An exception in the front thread is raised here, in order; closing this generator stops the front thread
    before it starts another page.
    """
    slots = threading.Semaphore(depth + 1)  # pages alive: the one in back() plus `depth` ahead
    out: queue.Queue = queue.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                slots.acquire()
                if stop.is_set():
                    return
                try:
                    item = next(fronts)
                except StopIteration:
                    return
                out.put(item)
        except BaseException as e:  # handed to the consumer, raised there
            out.put(_Failed(e))
        finally:
            close = getattr(fronts, "close", None)
            if close is not None:  # in this thread, which ran it: its files (a PDF) are closed now, not at GC
                close()
            out.put(_DONE)

    worker = threading.Thread(target=produce, name="edge-front", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            try:
                yield back(item)
            finally:
                slots.release()
    finally:
        stop.set()
        slots.release()  # wake a producer waiting for a slot so it sees `stop`
        worker.join()
