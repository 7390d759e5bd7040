"""Start several requests at the same instant, as two tablets or a double tap would."""

import threading
from collections.abc import Callable, Sequence
from typing import Any


def run_together(calls: Sequence[Callable[[], Any]], timeout: float = 60) -> list[Any]:
    """Call each function in its own thread, released together; return their results."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
