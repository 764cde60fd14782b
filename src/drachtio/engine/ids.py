"""Identifiers and timestamps in the shapes the reference server produces.

Transaction ids, message ids and Call-IDs look like UUIDs; tags and branch suffixes are 13
random hex digits (52 bits, RFC 3261 19.3 asks for at least 32); the first CSeq of a new request comes from the clock; the control
protocol's time token is ``HH:MM:SS.uuuuuu`` (UTC). These run once or more per SIP message,
so they are built to be cheap: a random per-process prefix plus a counter for UUID-shaped ids
(unique, unguessable enough for ids that are never a security boundary).
"""

from __future__ import annotations

import itertools
import os
import random
import time

__all__ = [
    "initial_cseq",
    "new_branch",
    "new_call_id",
    "new_id",
    "new_tag",
    "wire_time",
]

_rng = random.Random(os.urandom(16))
_bits = _rng.getrandbits

_p = os.urandom(10).hex()
_PREFIX = f"{_p[0:8]}-{_p[8:12]}-4{_p[13:16]}-{'89ab'[int(_p[16], 16) & 3]}{_p[17:20]}-"
_counter = itertools.count(_rng.randrange(1 << 40))


def new_id() -> str:
    """A UUID-shaped id, unique in this process (message ids, transaction ids)."""
    return f"{_PREFIX}{next(_counter) & 0xFFFFFFFFFFFF:012x}"


def new_call_id() -> str:
    """A fresh Call-ID, UUID-shaped like the reference's."""
    return f"{_rng.getrandbits(32):08x}-{_rng.getrandbits(16):04x}-{_rng.getrandbits(16):04x}-{_rng.getrandbits(16):04x}-{_rng.getrandbits(48):012x}"


def new_tag() -> str:
    # one formatting of one random integer: ~10x cheaper than picking 13 characters
    return f"{_bits(52):013x}"


def new_branch() -> str:
    return f"z9hG4bK{_bits(52):013x}"


_NTP_OFFSET = 2208988800


def initial_cseq() -> int:
    """``(NTP seconds / 2) & 0x7ffffff``, as the reference's stack picks it."""
    return ((int(time.time()) + _NTP_OFFSET) // 2) & 0x7FFFFFF


_time_cache: list[object] = [-1, ""]


def wire_time(now: float | None = None) -> str:
    """UTC time of day as ``HH:MM:SS.uuuuuu``."""
    t = time.time() if now is None else now
    sec = int(t)
    if sec != _time_cache[0]:
        _time_cache[0] = sec
        _time_cache[1] = time.strftime("%H:%M:%S", time.gmtime(sec))
    return f"{_time_cache[1]}.{int((t - sec) * 1_000_000):06d}"
