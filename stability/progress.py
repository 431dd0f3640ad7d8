"""Progress meters for long computations (Monte Carlo simulations and sweeps).

A meter is a tiny object with three methods, :meth:`ProgressMeter.start`,
:meth:`ProgressMeter.update` and :meth:`ProgressMeter.close`; long-running functions
accept ``progress=True`` (a tqdm bar), ``False`` (nothing) or any meter instance, so
a user can plug in their own (a logger, a notebook widget). tqdm is an optional extra
(``pip install 'optimizer-stability[progress]'``), imported only when a bar is asked for.

Examples
--------
>>> import io
>>> from stability.progress import TextProgress
>>> stream = io.StringIO()
>>> meter = TextProgress(stream=stream, every=50)
>>> meter.start(100, "simulate")
>>> for _ in range(4):
...     meter.update(25)
>>> meter.close()
>>> print(stream.getvalue().strip())
simulate: 50/100 (50%)
simulate: 100/100 (100%)
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

from stability.errors import InvalidTypeError

__all__ = [
    "PROGRESS_EXTRA_HINT",
    "NoProgress",
    "ProgressMeter",
    "StatusLine",
    "TextProgress",
    "TqdmProgress",
    "as_progress",
]

PROGRESS_EXTRA_HINT = (
    "progress=True needs tqdm, which is an optional extra; install it with "
    "pip install 'optimizer-stability[progress]' (or pip install tqdm), or pass progress=False"
)


class ProgressMeter:
    """Base class of progress meters: override any of the three methods.

    ``start(total, description)`` is called once with the total amount of work,
    ``update(amount)`` as work completes, and ``close()`` at the end (also after an error).
    The base class does nothing, so it is itself the silent meter; :attr:`enabled` says
    whether a meter shows anything (``False`` here, ``True`` for the visible meters).
    """

    enabled: bool = False

    def start(self, total: int, description: str) -> None:
        """Begin a task of ``total`` units.

        Parameters
        ----------
        total : int
            Number of units of work, or None when unknown.
        description : str
            Label shown beside the progress.
        """

    def update(self, amount: int = 1) -> None:
        """Record ``amount`` more completed units.

        Parameters
        ----------
        amount : int, default 1
            Number of units of work completed since the last update.
        """

    def close(self) -> None:
        """Finish the task."""


class NoProgress(ProgressMeter):
    """A meter that shows nothing (the default)."""


class TextProgress(ProgressMeter):
    """A dependency-free meter printing ``description: done/total (percent)`` lines.

    Parameters
    ----------
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    every : int, default 10
        Print whenever another ``every`` percent of the work is done.
    """

    enabled = True

    def __init__(self, stream: TextIO | None = None, every: int = 10) -> None:
        self._stream = stream
        self._every = max(1, int(every))
        self._total = 0
        self._done = 0
        self._printed = 0
        self._description = ""

    def start(self, total: int, description: str) -> None:
        """Begin a task of ``total`` units.

        Parameters
        ----------
        total : int
            Number of units of work, or None when unknown.
        description : str
            Label shown beside the progress.
        """
        self._total, self._done, self._printed = max(int(total), 1), 0, 0
        self._description = description

    def update(self, amount: int = 1) -> None:
        """Record progress, printing at every ``every`` percent.

        Parameters
        ----------
        amount : int, default 1
            Number of units of work completed since the last update.
        """
        self._done += int(amount)
        percent = min(100, 100 * self._done // self._total)
        if percent >= self._printed + self._every or (percent == 100 and self._printed < 100):
            self._printed = percent - percent % self._every if percent < 100 else 100
            stream = self._stream if self._stream is not None else sys.stderr
            print(
                f"{self._description}: {self._done}/{self._total} ({percent}%)",
                file=stream,
                flush=True,
            )


class TqdmProgress(ProgressMeter):
    """A tqdm progress bar (tqdm is imported when the bar starts).

    Parameters
    ----------
    **options
        Passed to :class:`tqdm.tqdm` (e.g. ``leave=False``, ``file=...``).

    Raises
    ------
    ImportError
        On :meth:`start`, naming the ``progress`` extra, if tqdm is not installed.
    """

    enabled = True

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._bar: Any = None

    def start(self, total: int, description: str) -> None:
        """Open the bar.

        Parameters
        ----------
        total : int
            Number of units of work, or None when unknown.
        description : str
            Label shown beside the progress.
        """
        try:
            tqdm = importlib.import_module("tqdm")
        except ImportError as error:
            raise ImportError(PROGRESS_EXTRA_HINT) from error
        self._bar = tqdm.tqdm(total=total, desc=description, **self._options)

    def update(self, amount: int = 1) -> None:
        """Advance the bar.

        Parameters
        ----------
        amount : int, default 1
            Number of units of work completed since the last update.
        """
        if self._bar is not None:
            self._bar.update(amount)

    def close(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def as_progress(progress: Any) -> ProgressMeter:
    """Turn a ``progress=`` argument into a meter.

    ``True`` gives a :class:`TqdmProgress`, ``False`` or ``None`` a :class:`NoProgress`,
    and a :class:`ProgressMeter` is returned as is.

    Parameters
    ----------
    progress : bool, None or ProgressMeter
        The argument as given by the user.

    Raises
    ------
    InvalidTypeError
        For anything else.

    Examples
    --------
    >>> from stability.progress import as_progress
    >>> type(as_progress(False)).__name__, type(as_progress(True)).__name__
    ('NoProgress', 'TqdmProgress')
    """
    if progress is None or progress is False:
        return NoProgress()
    if progress is True:
        return TqdmProgress()
    if isinstance(progress, ProgressMeter):
        return progress
    raise InvalidTypeError(
        "progress must be True, False or a stability.progress.ProgressMeter; "
        f"got {type(progress).__name__}"
    )


class StatusLine:
    """A context manager announcing a step that has no progress count of its own.

    If the step is still running after ``delay`` seconds, ``description …`` is printed;
    when it then ends, ``description: done in N s``. Quick steps print nothing, so a
    command is quiet unless it is slow.

    Parameters
    ----------
    description : str
        What is being computed.
    enabled : bool, default True
        ``False`` makes the context manager silent.
    delay : float, default 1.0
        Seconds before the first line.
    stream : file-like, optional
        Where to write (default ``sys.stderr``).

    Examples
    --------
    >>> import io, time
    >>> from stability.progress import StatusLine
    >>> stream = io.StringIO()
    >>> with StatusLine("η* of GD", delay=0.0, stream=stream):
    ...     time.sleep(0.05)
    >>> stream.getvalue().splitlines()[0]
    'η* of GD …'
    """

    def __init__(
        self,
        description: str,
        *,
        enabled: bool = True,
        delay: float = 1.0,
        stream: TextIO | None = None,
    ) -> None:
        self._description = description
        self._enabled = enabled
        self._delay = delay
        self._stream = stream
        self._timer: threading.Timer | None = None
        self._printed = False
        self._started = 0.0
        self._lock = threading.Lock()

    def _announce(self) -> None:
        with self._lock:
            stream = self._stream if self._stream is not None else sys.stderr
            print(f"{self._description} …", file=stream, flush=True)
            self._printed = True

    def __enter__(self) -> StatusLine:
        self._started = time.perf_counter()
        if self._enabled:
            if self._delay <= 0:
                self._announce()
            else:
                self._timer = threading.Timer(self._delay, self._announce)
                self._timer.daemon = True
                self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            if self._printed and kind is None:
                stream = self._stream if self._stream is not None else sys.stderr
                seconds = time.perf_counter() - self._started
                print(f"{self._description}: done in {seconds:.1f} s", file=stream, flush=True)
