"""The tables of a run store and their migrations, applied in order on first use.

The same SQL serves SQLite and PostgreSQL. ``flowkit_schema`` holds the version; a store
refuses a database whose version is newer than the migrations it knows.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

# Migration n (1-based) takes the schema from version n - 1 to n. Never edit a released one:
# append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE flowkit_runs (
            run_id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            status TEXT NOT NULL,
            owner TEXT,
            lease_until DOUBLE PRECISION,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            start_kwargs TEXT NOT NULL DEFAULT '{}',
            snapshot TEXT,
            inbox_count BIGINT NOT NULL DEFAULT 0,
            inbox_cursor BIGINT NOT NULL DEFAULT 0,
            prompt TEXT,
            events TEXT NOT NULL DEFAULT '[]',
            result TEXT,
            error TEXT,
            finish_count INTEGER NOT NULL DEFAULT 0,
            claims INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX flowkit_runs_by_status ON flowkit_runs (status, created_at)",
        """CREATE TABLE flowkit_inbox (
            run_id TEXT NOT NULL,
            number BIGINT NOT NULL,
            idempotency_key TEXT,
            event TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, number),
            UNIQUE (run_id, idempotency_key)
        )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
