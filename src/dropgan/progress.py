"""Progress events and cancellation, for every front end.

A run reports its progress as :class:`ProgressEvent` objects (a monotone ``fraction`` of the
whole run, a short ``stage`` and an ``eta``) passed to a callable the caller gives. The
callable may raise any exception to cancel the run: engines report after every unit of work
(a PNN step, an optimiser step), so the exception stops the run within one such unit and
propagates to the caller with nothing returned. ``progress=True`` is one such callable, a
bar on stderr (:class:`TerminalBar`).

Work is split into nested parts: a task gives each sample (or gradual step, or pass) a
share of its span with :meth:`Progress.part`, and an engine declares the total work of its
part with :meth:`Progress.begin` and reports it with :meth:`Progress.advance`, in any units
that are proportional to time (its cost model).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Progress", "ProgressEvent", "ProgressLike", "TerminalBar", "as_progress"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where a run stands.

    Attributes
    ----------
    fraction : float
        Share of the whole run done, 0 to 1, never decreasing; 1.0 once at the end.
    stage : str
        What is being done, short and human, e.g. ``"sample 1/4, level 3/9"``.
    eta : float or None
        Estimated seconds left, or None before there is anything to estimate from.
    elapsed : float
        Seconds since the run started.
    """

    fraction: float
    stage: str
    eta: float | None
    elapsed: float


#: The largest fraction reported before the run has returned.
_BEFORE_END = 0.999

ProgressLike = bool | Callable[[ProgressEvent], object] | None


class _Sink:
    """The root of a progress tree: the callback, the clock and the monotone fraction."""

    def __init__(self, callback: Callable[[ProgressEvent], object] | None) -> None:
        self.callback = callback
        self.start = time.perf_counter()
        self.fraction = 0.0

    def emit(self, fraction: float, stage: str, final: bool = False) -> None:
        if self.callback is None:
            return
        # 1.0 is the end's alone: a front end may take it as "done"
        self.fraction = max(self.fraction, 1.0 if final else min(fraction, _BEFORE_END))
        elapsed = time.perf_counter() - self.start
        f = self.fraction
        eta = elapsed * (1 - f) / f if f > 0.01 else None
        self.callback(ProgressEvent(f, stage, eta, elapsed))


class Progress:
    """A span of a run's progress: ``[offset, offset + width]`` of the whole.

    Examples
    --------
    >>> events = []
    >>> run = Progress(events.append)
    >>> half = run.part(0.5, "sample 1/2")
    >>> half.begin(4)
    >>> half.advance(1, "level 1/2")
    >>> events[-1].fraction, events[-1].stage
    (0.125, 'sample 1/2, level 1/2')
    >>> run.finish()
    >>> events[-1].fraction
    1.0
    """

    def __init__(
        self,
        callback: Callable[[ProgressEvent], object] | None = None,
        *,
        _sink: _Sink | None = None,
        _offset: float = 0.0,
        _width: float = 1.0,
        _label: str = "",
    ) -> None:
        self._sink = _sink or _Sink(callback)
        self._offset, self._width, self._label = _offset, _width, _label
        self._cursor = 0.0  # share of this span handed to parts so far
        self._total = 1.0
        self._done = 0.0

    def _stage(self, stage: str) -> str:
        return ", ".join(s for s in (self._label, stage) if s)

    def part(self, share: float, label: str = "") -> Progress:
        """The next ``share`` (0 to 1) of this span, as a span of its own."""
        start = self._cursor
        self._cursor = min(1.0, start + share)
        return Progress(
            _sink=self._sink,
            _offset=self._offset + self._width * start,
            _width=self._width * (self._cursor - start),
            _label=self._stage(label),
        )

    def parts(self, count: int, label: str) -> list[Progress]:
        """``count`` equal parts labelled ``"{label} i/count"`` (nothing when ``count`` is 1)."""
        return [
            self.part(1 / count, f"{label} {i + 1}/{count}" if count > 1 else "")
            for i in range(count)
        ]

    def begin(self, total: float) -> None:
        """Declare this span's work, in any units proportional to time."""
        self._total, self._done = max(float(total), 1e-12), 0.0

    def advance(self, work: float = 1.0, stage: str = "") -> None:
        """Report ``work`` units done; the callback may raise to cancel the run."""
        self._done += work
        done = min(self._done / self._total, 1.0)
        self._sink.emit(self._offset + self._width * done, self._stage(stage))

    def at(self, fraction: float, stage: str = "") -> None:
        """Report that ``fraction`` (0 to 1) of this span is done: for relaying the events
        of a nested run (a front end that runs a task in chunks)."""
        self._total = 1.0
        self._done = 0.0
        self.advance(fraction, stage)

    def check(self, stage: str = "") -> None:
        """Report without progress: a cancellation point inside a long unit of work."""
        self.advance(0.0, stage)

    def finish(self) -> None:
        """The end of the whole run: fraction 1.0."""
        self._sink.emit(1.0, "done", final=True)


class TerminalBar:
    """The progress callable of ``progress=True``: a bar on a terminal, and on anything else
    (a log file, a pipe) a plain line at every tenth of the run, never ``\\r`` frames."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._tenth = -1

    def __call__(self, event: ProgressEvent) -> None:
        eta = "" if event.eta is None else f" {_clock(event.eta)} left"
        pct = f"{int(100 * event.fraction):3d}%"
        if self.tty:
            fill = round(self.width * event.fraction)
            bar = "#" * fill + "-" * (self.width - fill)
            end = "\n" if event.fraction >= 1.0 else ""
            self.stream.write(f"\r\x1b[K{pct} |{bar}| {event.stage}{eta}{end}")
        elif int(10 * event.fraction) > self._tenth:
            self._tenth = int(10 * event.fraction)
            self.stream.write(f"dropgan: {pct} {event.stage}{eta}\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def as_progress(progress: ProgressLike) -> Progress:
    """A run's root :class:`Progress` from the ``progress=`` argument of the API: ``True``
    for a bar on stderr, ``False``/``None`` for none, or a callable taking
    :class:`ProgressEvent`.

    Examples
    --------
    >>> as_progress(False).advance(1.0)  # reports to nobody
    """
    if progress is True:
        return Progress(TerminalBar())
    if progress is False or progress is None:
        return Progress(None)
    if not callable(progress):
        from .errors import InputError

        raise InputError(f"progress must be True, False or a callable, got {progress!r}")
    return Progress(progress)
