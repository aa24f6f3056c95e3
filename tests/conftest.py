"""Shared test configuration: every async test runs on asyncio and on trio."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, settings

# pydantic is optional (flowkit[pydantic]): the tests that need it are named *_pydantic.py
# and are left out when it is not installed (`make test-without-pydantic` checks this).
collect_ignore_glob = [] if importlib.util.find_spec("pydantic") else ["test_*_pydantic.py"]

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both backends, explicitly: the plugin's default drops trio when it is missing."""
    return str(request.param)


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves a task running that was not there before it."""
    before = {t.id for t in anyio.get_running_tasks()}

    def leftover() -> set[str]:
        return {
            t.name
            for t in anyio.get_running_tasks()
            if t.id not in before and t.name and "flowkit" in t.name
        }

    yield
    # A detached run's task returns right after it reports done: give it a few
    # scheduling rounds to unwind, then fail naming what is still there.
    with anyio.move_on_after(5):
        while leftover():
            await anyio.lowlevel.checkpoint()
    assert not leftover(), f"tasks left running: {leftover()}"
