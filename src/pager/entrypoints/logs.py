"""Log lines that cannot lie or leak: one formatter for every record the process writes,
Pager's own and uvicorn's (its error and access loggers propagate to the root handler).

- An ack link's token is a credential: every `/ack/<token>` becomes `/ack/[redacted]`;
  so is a calendar feed's: every `/ical/<token>` becomes `/ical/[redacted]`.
- Text from outside (an alert's message, a request's path) cannot start a line of its own:
  control characters are escaped (a newline as the two characters `\\n`, others as
  `\\xNN` or `\\uNNNN`), so each record is one line.
- A traceback keeps its line breaks, each of its lines indented by `TRACEBACK_INDENT`, so
  that no line of it can pass for a record.
"""

from __future__ import annotations

import logging
import re

TRACEBACK_INDENT = "  | "
REDACTED_ACK = "/ack/[redacted]"
REDACTED_ICAL = "/ical/[redacted]"

_ACK_TOKEN = re.compile(r"/ack/[^\s\"'<>]+")
_ICAL_TOKEN = re.compile(r"/ical/[^\s\"'<>]+")
# C0, DEL and C1 controls, and the two Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_line(text: str) -> str:
    """`text` with ack and calendar feed tokens redacted and control characters escaped:
    one line."""
    if "/ack/" in text:
        text = _ACK_TOKEN.sub(REDACTED_ACK, text)
    if "/ical/" in text:
        text = _ICAL_TOKEN.sub(REDACTED_ICAL, text)
    return _CONTROL.sub(_escaped, text)


class SafeFormatter(logging.Formatter):
    """`logging.Formatter` whose output is one line per record (`safe_line`), plus the
    record's traceback and stack, if any, as indented lines below it."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = safe_line(self.formatMessage(record))
        blocks = []
        if record.exc_info:
            blocks.append(self.formatException(record.exc_info))
        elif record.exc_text:
            blocks.append(record.exc_text)
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            text += "".join(f"\n{TRACEBACK_INDENT}{safe_line(line)}" for line in block.splitlines())
        return text
