"""The web server's access log never keeps a participant's link token."""

import datetime
from types import SimpleNamespace

from gunicorn.config import Config

from circlekeeper.instruments.access_log import RedactingLogger, redact

TOKEN = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c"


def test_the_token_in_a_link_address_is_replaced():
    assert redact(f"GET /s/{TOKEN}/ HTTP/1.1") == "GET /s/…/ HTTP/1.1"
    assert redact(f"https://example.org/s/{TOKEN}/") == "https://example.org/s/…/"
    assert redact(f"/s/{TOKEN}/") == "/s/…/"


def test_the_other_pages_of_a_link_keep_their_names():
    for line in (
        "GET /s/ HTTP/1.1",
        "POST /s/live/ HTTP/1.1",
        "GET /s/review/ HTTP/1.1",
        "GET /s/done/ HTTP/1.1",
    ):
        assert redact(line) == line
    assert redact("GET /static/css/circlekeeper.css HTTP/1.1") == "GET /static/css/circlekeeper.css HTTP/1.1"


def test_every_part_of_the_access_log_line_is_redacted():
    logger = RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/s/{TOKEN}/",
        "PATH_INFO": f"/s/{TOKEN}/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://example.org/s/{TOKEN}/",
        "REMOTE_ADDR": "127.0.0.1",
    }
    response = SimpleNamespace(status="302 Found", sent=0, headers=[("Location", "/s/")])
    request = SimpleNamespace(headers=[("REFERER", f"https://example.org/s/{TOKEN}/")])

    atoms = logger.atoms(response, request, environ, datetime.timedelta(milliseconds=5))

    assert atoms["r"] == "GET /s/…/ HTTP/1.1"
    assert TOKEN not in repr(atoms)
