"""One log format: JSON lines; filter values and e-mail addresses never written at INFO."""
from __future__ import annotations

import json
import logging
import subprocess
import sys

from scimsvc.logs import JsonFormatter, redact_query
from tests.conftest import make_user


def test_redact_query_hides_filter_values_and_emails():
    assert redact_query('filter=userName%20eq%20%22alice%40example.com%22&count=5') == \
        "filter=[redacted]&count=5"
    assert redact_query("attributes=emails&x=bob@example.com") == "attributes=emails&x=[redacted]"
    assert redact_query("") == ""


def test_the_request_log_at_info_has_no_filter_value(app, scim, caplog):
    make_user(scim, "alice@example.com")
    caplog.set_level(logging.INFO, logger="scimsvc.requests")
    caplog.clear()
    scim.get('Users?filter=userName%20eq%20%22alice@example.com%22')
    [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
    assert "alice" not in record.getMessage()
    assert json.loads(record.getMessage())["query"] == "filter=[redacted]"
    assert "alice" not in JsonFormatter().format(record)


def test_at_debug_the_query_as_sent_is_added(app, scim, caplog):
    caplog.set_level(logging.DEBUG, logger="scimsvc.requests")
    scim.get('Users?filter=userName%20eq%20%22carol@example.com%22')
    [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
    assert 'carol@example.com' in json.loads(record.getMessage())["query_as_sent"]


def test_a_message_with_a_traceback_is_one_json_line():
    try:
        raise ValueError("boom for dave@example.com")
    except ValueError:
        record = logging.LogRecord("scimsvc.x", logging.ERROR, __file__, 1, "failed for %s",
                                   ("dave@example.com",), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "scimsvc.x",
                                                                "failed for [redacted]")
    assert "ValueError" in line["exception"]


def test_waitress_warnings_under_serve_are_json_lines_too():
    # Under load waitress warns on its "waitress.queue" logger; serve's log stays JSON lines.
    script = (
        "import logging, logging.config\n"
        "from scimsvc.logs import gunicorn_logconfig\n"
        "logging.config.dictConfig(gunicorn_logconfig('INFO'))\n"
        "logging.getLogger('waitress.queue').warning('Task queue depth is %d', 2)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    [line] = done.stderr.splitlines()
    assert json.loads(line)["message"] == "Task queue depth is 2"
    assert json.loads(line)["logger"] == "waitress.queue"


def test_redaction_of_a_megabyte_is_linear_and_right():
    # The old pattern retried from every character of a run without '@': quadratic in the
    # engine, holding the GIL (40 KB took 15 s; one GET /healthz?x=<100 KB> froze a worker).
    from scimsvc.logs import QUERY_LOGGED, redact
    plain = "a" * 1_000_000
    assert redact(plain) is plain
    assert redact(plain + " " + plain) == plain + " " + plain
    assert redact("b" * 999_999 + "@") == "b" * 999_999 + "@"  # no domain: no address
    assert redact("a@" * 500_000) == "[redacted]@" * 250_000
    assert redact(("x" * 999 + "@") * 1000) == "[redacted]" + ("@[redacted]" * 499) + "@"
    assert redact("to: " + "a" * 500_000 + "@" + "b" * 500_000 + " ok") == "to: [redacted] ok"
    logged = redact_query("x=" + "a" * 1_000_000)
    assert logged == "x=" + "a" * (QUERY_LOGGED - 2) + "...[997954 more characters]"
    logged = redact_query("x=" + "a" * 100_000 + "@b" + "&y=c@d")
    assert logged.startswith("x=[redacted]&y=[redacted]") and "@" not in logged


def test_the_request_log_keeps_2_kb_of_a_long_query(app, scim, caplog):
    caplog.set_level(logging.DEBUG, logger="scimsvc.requests")
    scim.get("Users?attributes=" + "a" * 100_000)
    [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
    line = json.loads(record.getMessage())
    assert line["query"].endswith("...[97963 more characters]") and len(line["query"]) < 2100
    assert line["query_as_sent"] == line["query"]
