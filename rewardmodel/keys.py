"""Content keys: what identifies a text or an image in the feature cache.

Its own module without torch, so the web process computes the same keys as the library.
"""

from __future__ import annotations

import hashlib


def content_key(data: bytes | str) -> str:
    """The sha256 hex digest identifying a piece of content (text is hashed as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
