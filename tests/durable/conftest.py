"""Stores for the durable-run tests: a fresh SQLite file, or a fresh PostgreSQL schema.

PostgreSQL tests need ``FLOWKIT_TEST_POSTGRES_URL`` (``.ci/run`` starts a server and sets it).
Without it they skip, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

POSTGRES_URL = os.environ.get("FLOWKIT_TEST_POSTGRES_URL")
NO_POSTGRES = (
    "PostgreSQL tests need a server: set FLOWKIT_TEST_POSTGRES_URL "
    '(eval "$(.ci/postgres.sh)" starts one on a loopback port)'
)


def require_postgres() -> str:
    """The test server's URL; skip without one (fail in CI)."""
    if POSTGRES_URL:
        return POSTGRES_URL
    if os.environ.get("CI") == "true":
        pytest.fail(f"{NO_POSTGRES}; in CI they must run.")
    pytest.skip(NO_POSTGRES)


def postgres_schema_url(base: str, request: pytest.FixtureRequest) -> Callable[[], str]:
    """A factory of URLs of fresh, empty schemas on the server at ``base``, dropped after
    the test."""
    schemas: list[str] = []

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"

    request.addfinalizer(drop)
    return make


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store a test runs against: both, always."""
    return str(request.param)


@pytest.fixture
def make_store_url(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], str]:
    """A factory of URLs of fresh, empty stores of ``store_kind``."""
    if store_kind == "postgres":
        return postgres_schema_url(require_postgres(), request)
    count = iter(range(1_000_000))

    def make() -> str:
        return f"sqlite:///{tmp_path / f'runs-{next(count)}.db'}"

    return make


@pytest.fixture
def store_url(make_store_url: Callable[[], str]) -> str:
    """The URL of a fresh, empty store."""
    return make_store_url()


@pytest.fixture
def postgres_store_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty PostgreSQL store (for tests of PostgreSQL only)."""
    return postgres_schema_url(require_postgres(), request)()


def execute_raw(url: str, sql: str, params: tuple[object, ...] = ()) -> None:
    """Run one statement on the database under a store URL, as another program would."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql, params)
        conn.close()
        return
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(sql.replace("?", "%s"), params)
