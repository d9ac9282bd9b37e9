"""What LEMONS prints on the terminal, and what it keeps quiet.

LEMONS' own messages (a folder's skipped files, a stale model) are log records of the ``lemons``,
``recsys`` and ``explanations`` loggers; :func:`configure` prints them as ``warning: …`` lines.
Native libraries write to the process's standard error themselves, below Python: TensorFlow's
start-up lines when Spleeter loads, the MP3 decoder's notes about damaged frames.
:func:`native_output_captured` keeps those off the terminal unless LEMONS is verbose (``lemons
--verbose``, or ``LEMONS_VERBOSE=1`` for any entry point), and hands them over for error messages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import IO, TextIO

#: The loggers of LEMONS' own packages.
PACKAGE_LOGGERS = ("lemons", "recsys", "explanations")

_verbose: bool | None = None  # None: read LEMONS_VERBOSE


class _Capture:
    """File descriptor 2 is the process's: the first block to start redirects it to a temporary file,
    the last one to end restores it, and blocks that overlap (threads reading MP3s) share the file."""

    lock = threading.Lock()
    depth = 0
    sink: IO[bytes] | None = None
    saved = -1


def is_verbose() -> bool:
    """Whether native libraries may print (``--verbose``, else the ``LEMONS_VERBOSE`` variable)."""
    if _verbose is not None:
        return _verbose
    return os.environ.get("LEMONS_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on")


def set_verbose(verbose: bool | None) -> None:
    """Let native libraries print (True), keep them quiet (False), or follow ``LEMONS_VERBOSE`` (None).

    TensorFlow reads its own log level once, when it is imported (:mod:`explanations.audiolime.separation`
    sets it from :func:`is_verbose` then).
    """
    global _verbose
    _verbose = verbose


class _TerminalHandler(logging.Handler):
    """Log records as ``warning: message`` lines on the standard error of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print a Python warning as one ``warning: …`` line (with its source only when verbose)."""
    if is_verbose():
        text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    else:
        text = f"warning: {message}"
    print(text, file=file or sys.stderr)


def configure(verbose: bool = False) -> None:
    """Set up the terminal of a command: log records of level warning and up (with ``verbose`` also
    LEMONS' informational ones) and Python warnings as ``warning: …`` lines on standard error, and
    native libraries quiet unless ``verbose`` or ``LEMONS_VERBOSE``. Safe to call more than once."""
    set_verbose(True if verbose else None)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _TerminalHandler)]:
        root.removeHandler(old)
    root.addHandler(_TerminalHandler())
    for name in PACKAGE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if is_verbose() else logging.NOTSET)
    warnings.showwarning = _show_warning


@contextlib.contextmanager
def configured(verbose: bool = False) -> Iterator[None]:
    """:func:`configure` for the length of a block, then the terminal set up as it was before.

    A command run in-process (``lemons.cli.main`` from Python) leaves no handler or warning hook behind.
    """
    root = logging.getLogger()
    saved = (_verbose, warnings.showwarning, list(root.handlers))
    levels = {name: logging.getLogger(name).level for name in PACKAGE_LOGGERS}
    configure(verbose)
    try:
        yield
    finally:
        set_verbose(saved[0])
        warnings.showwarning = saved[1]
        root.handlers[:] = saved[2]
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def native_output_captured() -> Iterator[Callable[[], str]]:
    """Collect what is written to standard error (file descriptor 2) inside the block.

    Yields a function that returns the text collected so far (for an error message); when the block
    ends, the text is dropped and standard error is restored (blocks that overlap in threads share one
    redirection, restored when the last ends). Verbose (:func:`is_verbose`), nothing is collected and
    the function returns ``""``. Python's own writes to ``sys.stderr`` in the block are collected too,
    so keep the block to the native call that needs quieting.
    """
    if is_verbose():
        yield lambda: ""
        return
    with _Capture.lock:
        if _Capture.depth == 0:
            sys.stderr.flush()
            _Capture.sink = tempfile.TemporaryFile(mode="w+b")
            _Capture.saved = os.dup(2)
            os.dup2(_Capture.sink.fileno(), 2)
        _Capture.depth += 1
        sink = _Capture.sink
        start = os.lseek(sink.fileno(), 0, os.SEEK_END)

    def collected() -> str:
        sys.stderr.flush()
        with _Capture.lock:
            return os.pread(sink.fileno(), 1 << 20, start).decode("utf-8", "replace")

    try:
        yield collected
    finally:
        with _Capture.lock:
            _Capture.depth -= 1
            if _Capture.depth == 0:
                sys.stderr.flush()
                os.dup2(_Capture.saved, 2)
                os.close(_Capture.saved)
                sink.close()
                _Capture.sink = None
