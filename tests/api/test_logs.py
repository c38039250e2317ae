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
