"""Bundles in the store: the server side of ``baton deploy``."""

from __future__ import annotations

from baton.bundles.pack import BUNDLE_PREFIX, BundleError, bundle_digest
from baton.store import Store


def save_bundle(store: Store, data: bytes, expected_digest: str | None = None) -> str:
    """Store ``data``; its code reference (``bundle:<digest>``). Checks ``expected_digest``."""
    digest = bundle_digest(data)
    if expected_digest and expected_digest != digest:
        raise BundleError(
            f"the upload's sha256 is {digest}, not {expected_digest}: it was corrupted in transit"
        )
    store.put_bundle(digest, data)
    return BUNDLE_PREFIX + digest


def read_bundle(store: Store, digest: str) -> bytes:
    data = store.get_bundle(digest)
    if data is None:
        raise BundleError(f"no bundle {digest} in the store")
    return data
