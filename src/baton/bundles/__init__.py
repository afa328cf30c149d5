"""Workflow code bundles: an immutable, content-hashed tar.gz of a code directory.

``baton deploy`` packs and uploads one (``pack``); the server keeps it in the store, so the
database is the only shared component; workers fetch it by digest and unpack it, with a
virtual environment for its ``requirements.txt``, into a per-host cache (``cache``).
"""

from __future__ import annotations

from baton.bundles.pack import (
    BUNDLE_PREFIX,
    MAX_BUNDLE_BYTES,
    BundleError,
    bundle_digest,
    is_bundle_ref,
    pack_dir,
)

__all__ = [
    "BUNDLE_PREFIX",
    "MAX_BUNDLE_BYTES",
    "BundleError",
    "bundle_digest",
    "is_bundle_ref",
    "pack_dir",
]
