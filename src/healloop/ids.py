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


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


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
