"""The log formatter: one line per record whatever its text holds, ack tokens redacted, a
traceback indented under its record."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pager.entrypoints.logs import TRACEBACK_INDENT, SafeFormatter, safe_line

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
FORGED = "disk full\n2026-01-01 00:00:00,000 ERROR pager: forged"


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter(FORMAT))
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_a_newline_in_a_message_cannot_start_a_record(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = written
    logger.warning("not sent: %s", FORGED)
    [line] = stream.getvalue().splitlines()
    assert RECORD.match(line)
    assert line.endswith("not sent: disk full\\n2026-01-01 00:00:00,000 ERROR pager: forged")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("a\tb", "a\\tb"),
        ("\x1b[2Kred", "\\x1b[2Kred"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("next line\x85", "next line\\x85"),
        ("line\u2028separator", "line\\u2028separator"),
        ("vertical\x0btab\x0cfeed", "vertical\\x0btab\\x0cfeed"),
        ("ünïcode stays", "ünïcode stays"),
    ],
)
def test_control_characters_are_escaped(text: str, shown: str) -> None:
    assert safe_line(text) == shown


@given(st.text())
def test_any_text_is_one_line(text: str) -> None:
    assert len(safe_line(text).splitlines()) <= 1


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            '127.0.0.1:5000 - "GET /ack/AQE2x_-Yz9 HTTP/1.1" 200',
            '127.0.0.1:5000 - "GET /ack/[redacted] HTTP/1.1" 200',
        ),
        (
            "ack: https://pager.example.com/ack/AQE2x_-Yz9",
            "ack: https://pager.example.com/ack/[redacted]",
        ),
        ("POST /ack/AQE2x?x=1 and /ack/Bb", "POST /ack/[redacted] and /ack/[redacted]"),
        ("/acknowledge stays, as does /ack/", "/acknowledge stays, as does /ack/"),
        (
            '127.0.0.1:5000 - "GET /ical/Zq3_-x9AbCdEfGhIjKlMnOp.ics HTTP/1.1" 200',
            '127.0.0.1:5000 - "GET /ical/[redacted] HTTP/1.1" 200',
        ),
        (
            "feed: https://pager.example.com/ical/Zq3_-x9A.ics?x=1",
            "feed: https://pager.example.com/ical/[redacted]",
        ),
    ],
)
def test_ack_tokens_are_redacted(text: str, shown: str) -> None:
    assert safe_line(text) == shown


def test_a_traceback_is_indented_under_its_record(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = written
    try:
        raise ValueError(f"bad /ack/AQE2x token: {FORGED}")
    except ValueError:
        logger.exception("error in GET /ack/AQE2x")
    first, *rest = stream.getvalue().splitlines()
    assert RECORD.match(first)
    assert first.endswith("error in GET /ack/[redacted]")
    assert rest[0] == TRACEBACK_INDENT + "Traceback (most recent call last):"
    assert all(line.startswith(TRACEBACK_INDENT) for line in rest)
    # The message's own line break is the traceback's: indented like the rest of it.
    assert rest[-2:] == [
        f"{TRACEBACK_INDENT}ValueError: bad /ack/[redacted] token: disk full",
        f"{TRACEBACK_INDENT}2026-01-01 00:00:00,000 ERROR pager: forged",
    ]
    assert "AQE2x" not in stream.getvalue()


def test_a_stack_is_indented_too(written: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = written
    logger.warning("where am I", stack_info=True)
    first, *rest = stream.getvalue().splitlines()
    assert RECORD.match(first)
    assert rest
    assert all(line.startswith(TRACEBACK_INDENT) for line in rest)
