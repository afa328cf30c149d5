"""The idempotency keys chained calls send: random UUID4 text."""

from __future__ import annotations

import uuid

from baton.sdk.chain import _uuid4


def test_idempotency_keys_are_distinct_uuid4_text() -> None:
    keys = [_uuid4() for _ in range(200)]

    assert len(set(keys)) == len(keys)
    for key in keys:
        parsed = uuid.UUID(key)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == key
