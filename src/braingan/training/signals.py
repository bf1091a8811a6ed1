"""Turn Ctrl-C and SIGTERM into a request that the loop honours after the current step."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class StopRequest:
    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None


@contextlib.contextmanager
def catch_stop_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM set the request instead of killing the process."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signals can only be caught in the main thread
        return

    def handler(signum: int, frame: object) -> None:
        request.signum = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class TrainingInterrupted(Exception):
    """Raised after the checkpoint was saved; the exit code follows the shell convention."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved")
        self.exit_code = 130 if signum == signal.SIGINT else 0
