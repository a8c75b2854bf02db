"""ILogger, Logger and IErrorRecorder with TensorRT's severities and semantics."""
from __future__ import annotations

import sys
import threading

from .enums import ErrorCode, make_enum

Severity = make_enum("Severity", "INTERNAL_ERROR ERROR WARNING INFO VERBOSE")


class ILogger:
    """Subclass and override ``log(severity, msg)`` to receive inferrt's messages."""

    Severity = Severity
    INTERNAL_ERROR = Severity.INTERNAL_ERROR
    ERROR = Severity.ERROR
    WARNING = Severity.WARNING
    INFO = Severity.INFO
    VERBOSE = Severity.VERBOSE

    def log(self, severity, msg):  # pragma: no cover - interface
        raise NotImplementedError


class Logger(ILogger):
    """Default logger: prints messages at ``min_severity`` or more severe to stderr."""

    def __init__(self, min_severity=Severity.WARNING):
        self.min_severity = Severity.parse(min_severity)

    def log(self, severity, msg):
        if Severity.parse(severity) <= self.min_severity:
            print(f"[inferrt] [{Severity(severity).name[0]}] {msg}", file=sys.stderr)


class IErrorRecorder:
    """Collects errors reported by an object (Builder, Runtime, engine, context), as TensorRT's recorder."""

    MAX_DESC_LENGTH = 127

    def __init__(self, capacity: int = 256):
        self._errors: list[tuple[ErrorCode, str]] = []
        self._capacity = capacity
        self._overflow = False
        self._lock = threading.Lock()

    def num_errors(self) -> int:
        return len(self._errors)

    def get_error_code(self, i: int) -> ErrorCode:
        return self._errors[i][0]

    def get_error_desc(self, i: int) -> str:
        return self._errors[i][1]

    def has_overflowed(self) -> bool:
        return self._overflow

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()
            self._overflow = False

    def report_error(self, code, desc) -> bool:
        with self._lock:
            if len(self._errors) >= self._capacity:
                self._overflow = True
                return True
            self._errors.append((ErrorCode.parse(code), str(desc)))
        return False


class Reporter:
    """Mixin: routes an object's diagnostics to its logger and error recorder."""

    logger: ILogger | None = None
    error_recorder: IErrorRecorder | None = None

    def _log(self, severity, msg):
        if self.logger is not None:
            self.logger.log(severity, msg)

    def _error(self, msg, code=ErrorCode.INVALID_ARGUMENT, severity=Severity.ERROR):
        self._log(severity, msg)
        if self.error_recorder is not None:
            self.error_recorder.report_error(code, msg)
