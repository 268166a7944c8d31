"""Structured logging: one JSON object per line, each with the correlation id of its call.

The correlation id lives in a context variable set by the plumbing for the duration of a call, so
no function has to pass it along and no log line can forget it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import math
import os
import re
import sys
import time

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Personal identity and coordination numbers (12 digits, or 10 with a - or +), wherever they would
# end up in a line: a last guard behind the rule that no log call passes personal data at all.
# Standing alone only: not inside a UUID (a correlation id), a hex string or a decimal fraction.
#
# Written to start with a digit, so the regex engine skips everything else quickly (it runs on
# every line): the first digit is matched, then the character before it is checked, then the rest.
# It matches exactly what this plainer spelling does (tests/test_units.py compares the two):
#   (?<![0-9A-Za-z.-])(?:(?:19|20)\d{10}|\d{6}[-+]\d{4}|(?:19|20)\d{6}[-+]\d{4})(?![0-9A-Za-z-])
_PERSONNUMMER = re.compile(
    r"[0-9](?<![0-9A-Za-z.-].)"
    r"(?:(?<=1)9\d{10}|(?<=2)0\d{10}|\d{5}[-+]\d{4}|(?<=1)9\d{6}[-+]\d{4}|(?<=2)0\d{6}[-+]\d{4})"
    r"(?![0-9A-Za-z-])"
)


def redact(text: str) -> str:
    return _PERSONNUMMER.sub("[personnummer]", text)


def describe_error(exc: BaseException) -> str:
    """An error's kind (and SQLSTATE), never its text: a database error's text can quote the data."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None)
    kind = type(orig or exc).__name__
    return f"{type(exc).__name__} ({kind}, SQLSTATE {sqlstate})" if sqlstate else f"{type(exc).__name__} ({kind})"


_second: tuple[int, str] = (-1, "")  # the last second formatted: one line in many shares it


def _time(created: float) -> str:
    global _second
    second = int(created)
    cached, text = _second
    if second != cached:
        text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (second, text)
    return f"{text}.{int((created - second) * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: the standard fields, the correlation id, and every ``extra``."""

    _encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation_id.get(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(self._encode(entry))


_string = json.encoder.encode_basestring  # JSON's own string quoting (C), non-ASCII kept as is
_handler: logging.StreamHandler | None = None  # the one JSON handler setup() installed


def _json(value: object) -> str:
    if type(value) is str:  # under 10 characters it cannot hold a personal identity number
        return _string(redact(value) if len(value) >= 10 else value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    if isinstance(value, str):
        return _string(redact(value))
    return redact(JsonFormatter._encode(value))  # as the formatter writes it: a number, list, object, str()


_heads: dict[tuple[str, str, int], str] = {}  # (logger, message, pid): what follows the time
_keys: dict[str, str] = {}  # a field's name, quoted: ', "name": '


def info(logger: logging.Logger, message: str, fields: dict[str, object]) -> None:
    """``logger.info(message, extra=fields)``, the same line, for the lines written once per call.

    Formatting a record through logging costs about 50 µs, half of what the plumbing spends on a
    small FMB call; this writes the line JSON would (same keys, order and separators) straight to
    the handler's stream, with every string field redacted as the formatter redacts whole lines.
    Anything but the plain setup (another handler, as pytest's caplog adds; a handler or a filter
    on the logger; the level off) goes through logging itself.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _handler
    root = logging.root
    if handler is None or root.handlers != [handler] or logger.handlers or logger.filters or root.filters:
        logger.info(message, extra=fields)
        return
    pid = os.getpid()
    head = _heads.get((logger.name, message, pid))
    if head is None:
        head = _heads[(logger.name, message, pid)] = (
            f'", "level": "info", "logger": {_json(logger.name)}, "message": {_json(message)}, "correlation_id": '
        )
    parts = ['{"time": "', _time(time.time()), head, _json(correlation_id.get()), f', "pid": {pid}']
    for key, value in fields.items():
        quoted = _keys.get(key)
        if quoted is None:
            quoted = _keys[key] = f", {_string(key)}: "
        parts.append(quoted)
        parts.append(_json(value))
    parts.append("}\n")
    line = "".join(parts)
    with handler.lock:
        try:
            handler.stream.write(line)
            handler.stream.flush()
        except Exception:  # as logging does: a log line never fails a call
            handler.handleError(logging.makeLogRecord({"msg": message}))


def setup(level: str = "INFO") -> None:
    global _handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    _handler = handler
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # No line carries a source file, thread or process name: spare every record looking them up.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    # Spyne logs every fault with a traceback at ERROR; the plumbing logs what matters itself.
    logging.getLogger("spyne").setLevel(logging.CRITICAL)
