"""The per-request log line, and that it never holds a password-reset link."""

import logging
from typing import Any

import pytest
from django.test import Client

from huike.core.middleware import loggable_path

TOKEN = "cz8n0p-4f1d2b3c4d5e6f7a8b9c0d1e2f3a4b5c"


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    # structlog hands the standard library the event as a dict (see huike.core.logging).
    return [
        record.msg
        for record in caplog.records
        if record.name == "huike.request" and isinstance(record.msg, dict)
    ]


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (f"/account/reset/MQ/{TOKEN}/", "/account/reset/…/…/"),
        (f"/account/reset/MQ/{TOKEN}", "/account/reset/…/…"),  # slash lost on the way
        (f"/account/reset/MQ/{TOKEN}/).", "/account/reset/…/…/)."),  # punctuation added
        ("/account/reset/MQ/set-password/", "/account/reset/…/…/"),
        ("/account/reset/", "/account/reset/"),
        ("/account/reset/sent/", "/account/reset/sent/"),
        ("/account/reset/done/", "/account/reset/done/"),
        ("/account/login/", "/account/login/"),
        (f"/settings/members/{TOKEN}/", f"/settings/members/{TOKEN}/"),
    ],
)
def test_only_the_secret_segments_are_replaced(path: str, logged: str) -> None:
    assert loggable_path(path) == logged


def test_reset_link_is_logged_without_its_token(db: None, caplog: pytest.LogCaptureFixture) -> None:
    # when someone opens a reset link (valid or not, the path holds the token)
    with caplog.at_level(logging.INFO, logger="huike.request"):
        response = Client().get(f"/account/reset/MQ/{TOKEN}/")
    # then the request is logged, without the token anywhere in the log
    assert response.status_code == 200
    lines = _request_lines(caplog)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/account/reset/…/…/", 200)
    ]
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(record.msg) for record in caplog.records)


def test_other_requests_are_logged_with_their_path(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="huike.request"):
        Client().get("/account/login/?next=/settings/")
    assert [line["path"] for line in _request_lines(caplog)] == ["/account/login/"]


def test_django_not_found_log_line_has_no_reset_token() -> None:
    # given Django's own 404 warning for a mangled reset link
    import logging

    from huike.core.logging import RedactSecretPaths

    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "Not Found: %s",
        ("/account/reset/MQ/cz8k1b-0123456789abcdef0123456789abcdef/extra",),
        None,
    )
    # when the handler's filter runs
    RedactSecretPaths().filter(record)
    # then the message carries no token
    assert "0123456789abcdef" not in record.getMessage()
    assert record.getMessage().startswith("Not Found: /account/reset/")
