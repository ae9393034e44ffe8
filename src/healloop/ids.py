"""Event ids: ``evt_`` + 26 Crockford base32 characters (ULID layout).

48 bits of milliseconds then 80 random bits make ids unique across machines without coordination;
within one process the random part is incremented when the clock does not move forward, so ids
from one server sort as strings in creation order (ULID's monotonic mode).
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


# Two base32 digits per lookup: ids are made on every report, so this sits on the ingest path.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _encode(value: int, length: int) -> str:
    """``length`` Crockford base32 digits of ``value``, most significant first (length even)."""
    out = [_PAIRS[(value >> shift) & 1023] for shift in range(5 * (length - 2), -1, -10)]
    return "".join(out)


def new_id(prefix: str = "evt_") -> str:
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _last_rand += 1
            if _last_rand >= 1 << 80:  # 2**80 ids in one millisecond: move to the next one
                ms += 1
                _last_rand = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            # Keep the top bit clear so the increment above has room before it overflows.
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms = ms
        return prefix + _encode(ms, 10) + _encode(_last_rand, 16)
