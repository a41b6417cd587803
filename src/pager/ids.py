"""Random ids for incidents and notifications."""

from __future__ import annotations

import os
import threading

_random_bytes: list[bytes] = []
_random_lock = threading.Lock()
os.register_at_fork(after_in_child=_random_bytes.clear)  # a child draws its own


def new_id() -> str:
    """A random (version 4) UUID in hex, as `uuid.uuid4().hex`. The randomness is read 256
    ids at a time: one system call per id cost more than deciding an alert."""
    with _random_lock:
        if not _random_bytes:
            pool = os.urandom(16 * 256)
            _random_bytes.extend(pool[n : n + 16] for n in range(0, len(pool), 16))
        raw = bytearray(_random_bytes.pop())
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()
