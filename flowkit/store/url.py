"""Open the run store a URL names: ``sqlite:///path`` or ``postgresql://...``.

The default URL comes from the ``FLOWKIT_STORE`` environment variable, else
``sqlite:///flowkit-runs.db`` (a file in the current directory).
"""

from __future__ import annotations

import os

from .base import RunStore
from .errors import StoreError
from .postgres import PostgresRunStore
from .sqlite import SQLiteRunStore

__all__ = ["DEFAULT_STORE_URL", "open_store", "store_url"]

DEFAULT_STORE_URL = "sqlite:///flowkit-runs.db"


def store_url(url: str | None = None) -> str:
    """``url``, else ``$FLOWKIT_STORE``, else :data:`DEFAULT_STORE_URL`."""
    return url or os.environ.get("FLOWKIT_STORE") or DEFAULT_STORE_URL


def open_store(url: str | None = None) -> RunStore:
    """The run store at ``url`` (see :func:`store_url` for the default); nothing is opened yet.

    ``sqlite:///runs.db`` is ``runs.db`` relative to the current directory and
    ``sqlite:////var/lib/runs.db`` an absolute path, as in SQLAlchemy.

    Raises:
        StoreError: The URL names no known store, or its driver is not installed.
    """
    url = store_url(url)
    scheme, sep, rest = url.partition("://")
    if scheme == "sqlite" and sep:
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise StoreError(f"Store URL {url!r} names no file: use sqlite:///path/to/runs.db")
        return SQLiteRunStore(path)
    if scheme in ("postgresql", "postgres") and sep:
        return PostgresRunStore(url)
    raise StoreError(
        f"Unknown store URL {url!r}: use sqlite:///path/to/runs.db or "
        "postgresql://user@host/dbname."
    )
