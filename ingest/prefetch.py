"""A background thread that prepares the next chunk while PostgreSQL loads this one."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator


def prefetched(items: Iterator, name: str = "livecat-prepare") -> Iterator:
    """Iterate ``items`` in a background thread, one item ahead of the consumer.

    The loader's Python work (reading, normalizing, hashing the next chunk) then runs
    while the main thread waits for PostgreSQL, which holds no GIL. At most two items
    exist at once: the one the consumer holds and the one being produced. An exception in
    the thread is raised in the consumer; closing the iterator stops the thread.
    """
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slot.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
                # start the next item only once this one is taken: at most two items
                # exist at a time (the consumer's and this thread's), which bounds memory
                while slot.unfinished_tasks and not stop.is_set():
                    time.sleep(0.005)
            put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(("error", exc))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            tag, item = slot.get()
            slot.task_done()
            if tag == "done":
                return
            if tag == "error":
                raise item
            yield item
            item = None  # do not hold a chunk while the next one is produced
    finally:
        stop.set()
