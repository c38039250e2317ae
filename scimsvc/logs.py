"""One log format: JSON lines on stderr, for the service's messages, gunicorn's and the request log.

A line is ``{"time", "level", "logger", "pid", "message"}`` (plus ``exception``
with the traceback when there is one); a request log record is its own JSON
object (api.requestlog) with ``level`` and ``logger`` added. Query strings are
logged with the values of ``filter`` and anything that looks like an e-mail
address replaced (``redact_query``): at INFO a log line holds no user's
address; at DEBUG the request log adds the query as sent.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"
# A match starts only where a run of address characters starts (the lookbehind): without it
# the engine retried from every character of a long run, quadratic (40 KB took 15 s).
_EMAIL = re.compile(r"(?<![^\s@/?&=])[^\s@/?&=]+@[^\s@/?&=]+")
# How much of a query string a log line keeps (the rest is counted, not written).
QUERY_LOGGED = 2048
# Query parameters whose values name users (a SCIM filter is `userName eq "alice@..."`).
_SECRET_PARAMETERS = frozenset({"filter"})


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like an e-mail address replaced by [redacted]
    (in time linear in its length)."""
    return _EMAIL.sub(REDACTED, text) if "@" in text else text


def shorten_query(query: str) -> str:
    """Return ``query`` cut to QUERY_LOGGED characters, with a marker saying how much was cut."""
    if len(query) <= QUERY_LOGGED:
        return query
    return f"{query[:QUERY_LOGGED]}...[{len(query) - QUERY_LOGGED} more characters]"


def redact_query(query: str) -> str:
    """Return ``query`` with filter values and e-mail addresses replaced by [redacted], cut to
    QUERY_LOGGED characters (``shorten_query``)."""
    if not query:
        return ""
    pairs = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.lower() in _SECRET_PARAMETERS and value:
            value = REDACTED
        pairs.append((redact(name), redact(value)))
    return shorten_query(urlencode(pairs, safe="[]"))


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Format every record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        request_line = getattr(record, "scimsvc_request", None)
        if request_line is not None:
            line = {**request_line, "level": record.levelname, "logger": record.name}
        else:
            line = {"time": _time(record), "level": record.levelname, "logger": record.name,
                    "pid": record.process, "message": redact(record.getMessage())}
            if record.exc_info:
                line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


def log_to_stderr(level: str) -> None:
    """Send the ``scimsvc`` loggers' messages at ``level`` and above to stderr as JSON lines, like
    gunicorn's (the server's workers, and the processes ``serve`` starts beside them)."""
    logger = logging.getLogger("scimsvc")
    logger.setLevel(level)
    logging.getLogger("scimsvc.requests").setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(_not_written_elsewhere)
        logger.addHandler(handler)
    for handler in logging.getLogger("scimsvc.requests").handlers:
        handler.setFormatter(JsonFormatter())


def _not_written_elsewhere(record: logging.LogRecord) -> bool:
    # A logger below "scimsvc" with a handler of its own (the request log's JSON
    # lines) has already written the record; do not print it a second time.
    source = logging.getLogger(record.name)
    while source.name != "scimsvc" and source.parent is not None:
        if source.handlers:
            return False
        source = source.parent
    return True


def gunicorn_logconfig(level: str) -> dict:
    """gunicorn's ``logconfig_dict``: its error and access logs as JSON lines on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            # Not SCIMSVC_LOG_LEVEL: gunicorn writes every access line at INFO, so at WARNING
            # the opt-in --access-log would write nothing. Asked for, it is written.
            "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            # waitress warns ("Task queue depth is 2") when requests wait for a thread;
            # unconfigured, Python's last-resort handler printed that as bare text.
            "waitress": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": [], "level": "WARNING"},
    }


# gunicorn's access log (--access-log), without the query string (%(U)s is the path only).
ACCESS_LOG_FORMAT = '%(h)s %(m)s %(U)s %(s)s %(B)s %(L)s'
