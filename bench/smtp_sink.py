"""An SMTP server (aiosmtpd) in a process of its own, so that receiving mail does not take
the load generator's CPU: prints `<probe> <time.monotonic()>` for each message that holds
a latency probe (`latency probe svc-NNNNNN`), as it arrives.

    python -m bench.smtp_sink PORT
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from typing import Any

from aiosmtpd.controller import Controller

PROBE = re.compile(rb"latency probe svc-\d+")


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.monotonic()
        # The probe is in the subject and the body, in ASCII: no need to parse the message.
        probe = PROBE.search(envelope.original_content)
        if probe:
            sys.stdout.write(f"{probe.group(0).decode()} {arrived}\n")
            sys.stdout.flush()
        return "250 OK"


def main() -> None:
    controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
