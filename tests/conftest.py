"""Shared test configuration: every async test runs on asyncio and on trio."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, settings

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
    before = set(anyio.get_running_tasks())
    yield
    # Detached runs end as soon as their handler reports done; let them unwind.
    with anyio.fail_after(5):
        while True:
            leftover = {t.name for t in anyio.get_running_tasks()} - {t.name for t in before}
            leftover = {n for n in leftover if n and "flowkit" in n}
            if not leftover:
                break
            await anyio.lowlevel.checkpoint()
    assert not leftover, f"tasks left running: {leftover}"
