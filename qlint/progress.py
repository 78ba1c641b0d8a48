"""The progress bar on a terminal's stderr (rich), shown only once a run has taken longer than a
moment, and erased when the analysis ends: "parsing N/M" while translation units are parsed,
then "analysing" (from the start when every TU comes from the cache)."""
from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

DELAY = 0.5    # seconds before the bar appears: quick runs print nothing


class _Count(ProgressColumn):
    """N/M while counting; nothing while the amount of work is unknown."""

    def render(self, task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


class _Remaining(TimeRemainingColumn):
    def render(self, task) -> Text:
        return Text("") if task.total is None else super().render(task)


class ParseProgress:
    """What pipeline.analyse() reports to: start(to_parse), advance(file) per TU parsed,
    analysing() once the facts are in, stop()."""

    def __init__(self, delay: float = DELAY, console: Console | None = None):
        self._delay = delay
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), _Count(),
                             _Remaining(), console=console or Console(stderr=True),
                             transient=True)
        self._task = None
        self._timer: threading.Timer | None = None

    def start(self, to_parse: int) -> None:
        if to_parse:
            self._task = self._bar.add_task("parsing", total=to_parse)
        else:
            self.analysing()
        self._timer = threading.Timer(self._delay, self._bar.start)
        self._timer.daemon = True
        self._timer.start()

    def advance(self, _file: str = "") -> None:
        task = next((t for t in self._bar.tasks if t.id == self._task), None)
        if task is not None and task.total is not None:
            # A cached TU found stale while decoding is parsed too: count it.
            self._bar.update(self._task, total=max(task.total, task.completed + 1), advance=1)

    def analysing(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task("analysing", total=None)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        self._bar.stop()
