"""Identifiers in Render's shape: a prefix plus 20 lowercase base32hex characters (xid style).

The first 4 bytes are the Unix time in seconds and the last 3 a process-wide counter, so ids
made by one process sort by creation order.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuv"
_counter = itertools.count(secrets.randbelow(1 << 24))
_lock = threading.Lock()
_machine = secrets.token_bytes(5)
_pid = os.getpid()


def _encode(raw: bytes) -> str:
    value = int.from_bytes(raw, "big")
    out = []
    for _ in range(20):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """A new id such as ``trn-d0hp8fs9c44c73a6f1qg`` for ``prefix="trn"``."""
    global _machine, _pid
    with _lock:
        if os.getpid() != _pid:  # a forked child must not repeat its parent's ids
            _pid, _machine = os.getpid(), secrets.token_bytes(5)
        count = next(_counter) & 0xFFFFFF
        machine = _machine
    raw = int(time.time()).to_bytes(4, "big") + machine + count.to_bytes(3, "big")
    # 12 bytes are 96 bits; 20 base32 characters hold 100, so shift to keep the time on top.
    return f"{prefix}-{_encode((int.from_bytes(raw, 'big') << 4).to_bytes(13, 'big'))}"


def is_id(value: str, prefix: str) -> bool:
    head, _, tail = value.partition("-")
    return head == prefix and len(tail) == 20 and all(c in _ALPHABET for c in tail)
