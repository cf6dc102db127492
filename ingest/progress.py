"""Progress of long work: rich bars on a terminal, plain timestamped log lines otherwise.

Everything goes to stderr, so a command's stdout holds only its result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class Reporter:
    """Progress on stderr: rich bars on a terminal, plain log lines otherwise.

    Parameters
    ----------
    interactive : bool, optional
        Force the rich display on (True) or off (False); default: whether stderr is a
        terminal.
    """

    def __init__(self, interactive: bool | None = None) -> None:
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._logged: dict[str, int] = {}

    def __enter__(self) -> "Reporter":
        if self.interactive:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                       SpinnerColumn, TextColumn, TimeElapsedColumn)

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=False)
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def log(self, message: str) -> None:
        """Write one line of progress."""
        if self._progress is not None:
            self._progress.console.log(message)
        else:
            print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    def update(self, stage: str, done: int, total: int | None) -> None:
        """Progress callback: ``stage`` has done ``done`` of ``total`` units."""
        if self._progress is not None:
            if stage not in self._tasks:
                self._tasks[stage] = self._progress.add_task(stage, total=total)
            self._progress.update(self._tasks[stage], completed=done, total=total)
            return
        # plain mode: the start, every 25 % and the end of each stage
        if total is None:
            self.log(f"{stage}: started")
            return
        step = max(1, total // 4)
        last = self._logged.get(stage)
        if last is None or (total and (done >= total or done - last >= step)):
            self._logged[stage] = done
            self.log(f"{stage}: {done}" + (f" of {total}" if total else ""))

    def download(self, done: int, total: int | None) -> None:
        """Fetch progress callback (bytes)."""
        self.update("download (bytes)", done, total)


def log_to(reporter: Reporter | None) -> Callable[[str], None]:
    """``reporter.log``, or a function that says nothing."""
    return reporter.log if reporter is not None else (lambda message: None)
