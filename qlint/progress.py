"""The parse progress bar on a terminal's stderr (rich), shown only once a run has taken longer
than a moment, and erased when parsing ends."""
from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

DELAY = 0.5    # seconds before the bar appears: quick runs print nothing


class ParseProgress:
    """What pipeline.analyse() reports to: start(total), advance(file) per TU, stop()."""

    def __init__(self, delay: float = DELAY, console: Console | None = None):
        self._delay = delay
        self._bar = Progress(TextColumn("parsing"), BarColumn(), MofNCompleteColumn(),
                             TimeRemainingColumn(), console=console or Console(stderr=True),
                             transient=True)
        self._task = None
        self._timer: threading.Timer | None = None

    def start(self, total: int) -> None:
        self._task = self._bar.add_task("parse", total=total)
        self._timer = threading.Timer(self._delay, self._bar.start)
        self._timer.daemon = True
        self._timer.start()

    def advance(self, _file: str = "") -> None:
        self._bar.advance(self._task)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        self._bar.stop()
