"""Run stores: where durable runs are parked (SQLite, embedded, or PostgreSQL, shared).

``open_store(url)`` opens one by URL; ``flowkit.durable`` drives runs over it.
"""

from .base import FINISHED, Claim, InboxEvent, Progress, RunRecord, RunStatus, RunStore
from .errors import (
    CorruptRunError,
    LeaseLostError,
    RunFinishedError,
    RunNotFinishedError,
    RunNotFoundError,
    StoreError,
    StoreUnavailableError,
)
from .postgres import PostgresRunStore
from .sqlite import SQLiteRunStore
from .url import DEFAULT_STORE_URL, open_store, store_url

__all__ = [
    "DEFAULT_STORE_URL",
    "FINISHED",
    "Claim",
    "CorruptRunError",
    "InboxEvent",
    "LeaseLostError",
    "PostgresRunStore",
    "Progress",
    "RunFinishedError",
    "RunNotFinishedError",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SQLiteRunStore",
    "StoreError",
    "StoreUnavailableError",
    "open_store",
    "store_url",
]
