from __future__ import annotations

import re
import threading

from healloop import ids


def test_ids_are_ulid_shaped_unique_and_sorted_in_creation_order() -> None:
    made = [ids.new_id() for _ in range(50_000)]  # many share a millisecond
    assert all(re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", i) for i in made[:100])
    assert made == sorted(made) and len(set(made)) == len(made)


def test_ids_from_many_threads_never_collide() -> None:
    out: list[list[str]] = [[] for _ in range(4)]

    def make(k: int) -> None:
        out[k].extend(ids.new_id() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [i for chunk in out for i in chunk]
    assert len(set(flat)) == len(flat)


def test_encoding_matches_crockford_base32() -> None:
    assert ids._encode(0, 10) == "0" * 10
    assert ids._encode(31, 10) == "000000000Z"
    assert ids._encode(32, 10) == "0000000010"
    assert ids._encode((1 << 50) - 1, 10) == "Z" * 10
