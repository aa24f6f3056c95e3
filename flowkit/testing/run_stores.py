"""Conformance checks for run stores: what every :class:`RunStore` must do, as a test helper.

Call :func:`check_run_store` from a test with a factory of empty stores, the way trio's
``check_one_way_stream`` checks a stream. (To be re-exported from ``flowkit.testing``.)

    async def test_my_store(tmp_path):
        await check_run_store(lambda: MyStore(tmp_path / "runs"))
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..store.base import Progress, RunRecord, RunStatus, RunStore
from ..store.errors import (
    LeaseLostError,
    RunFinishedError,
    RunNotFinishedError,
    RunNotFoundError,
)

__all__ = [
    "CHECKS",
    "StoreFactory",
    "check_cancel_and_delete",
    "check_claim_is_exclusive",
    "check_create_claimed",
    "check_create_get_list",
    "check_expired_lease_is_taken_over",
    "check_park_send_resume",
    "check_release",
    "check_run_store",
]

StoreFactory = Callable[[], RunStore]
"""Makes a fresh, empty store each time it is called."""
_Check = Callable[[RunStore], Awaitable[None]]

_EVENT = {"type": "HumanResponseEvent", "data": {"response": "42"}}


def _progress(cursor: int = 0, prompt: str | None = "Enter a number: ") -> Progress:
    return Progress({"opaque": True}, cursor, [{"type": "InputRequiredEvent", "data": {}}], prompt)


def _new_id() -> str:
    return uuid.uuid4().hex


async def _expect(error: type[BaseException], call: Awaitable[Any]) -> BaseException:
    try:
        await call
    except error as exc:
        return exc
    raise AssertionError(f"expected {error.__name__}")


async def check_create_get_list(store: RunStore) -> None:
    """A new run is ``running``; get, list and paging return it; unknown ids raise."""
    first, second = _new_id(), _new_id()
    record = await store.create(first, "Flow", {"topic": "x"})
    assert (record.run_id, record.workflow, record.status) == (first, "Flow", RunStatus.RUNNING)
    await store.create(second, "Other", {})
    got = await store.get(first)
    assert (got.status, got.finish_count, got.owner, got.events) == (RunStatus.RUNNING, 0, None, ())
    assert [r.run_id for r in await store.list()] == [first, second]
    assert [r.run_id for r in await store.list(limit=1, offset=1)] == [second]
    assert await store.list(RunStatus.WAITING) == []
    exc = await _expect(RunNotFoundError, store.get("nope"))
    assert "'nope'" in str(exc)


async def check_claim_is_exclusive(store: RunStore) -> None:
    """A claimed run cannot be claimed again while its lease lives."""
    run_id = _new_id()
    await store.create(run_id, "Flow", {"n": 1})
    claim = await store.claim(30.0)
    assert claim is not None
    assert (claim.record.run_id, dict(claim.start), claim.snapshot, claim.inbox) == (
        run_id,
        {"n": 1},
        None,
        (),
    )
    assert await store.claim(30.0) is None
    assert await store.claim(30.0, run_id=run_id) is None
    assert await store.claim(30.0, workflows=["Other"]) is None


async def check_expired_lease_is_taken_over(store: RunStore) -> None:
    """An expired lease is taken over; the old owner can no longer write."""
    run_id = _new_id()
    await store.create(run_id, "Flow", {})
    first = await store.claim(0.05)
    assert first is not None
    await store.renew(run_id, first.token, 0.05, _progress())
    with anyio.fail_after(10):
        while (second := await store.claim(30.0)) is None:
            await store.wait_for_work(0.02)
    assert second.token != first.token
    assert second.snapshot == {"opaque": True}
    await _expect(LeaseLostError, store.renew(run_id, first.token, 30.0, None))
    await _expect(LeaseLostError, store.finish(run_id, first.token, RunStatus.COMPLETED, events=[]))
    record = await store.finish(run_id, second.token, RunStatus.COMPLETED, events=[], result=[1])
    assert (record.status, record.result, record.finish_count) == (RunStatus.COMPLETED, [1], 1)


async def check_park_send_resume(store: RunStore) -> None:
    """Park, send (once per idempotency key), claim with the inbox, finish once."""
    run_id = _new_id()
    await store.create(run_id, "Flow", {})
    claim = await store.claim(30.0)
    assert claim is not None
    parked = await store.park(run_id, claim.token, _progress())
    record = await store.get(run_id)
    assert parked == record
    assert (record.status, record.prompt, record.owner) == (
        RunStatus.WAITING,
        "Enter a number: ",
        None,
    )
    assert await store.claim(30.0) is None
    assert await store.send(run_id, _EVENT, "key-1") is True
    assert await store.send(run_id, _EVENT, "key-1") is False
    assert (await store.get(run_id)).status is RunStatus.RUNNING
    again = await store.claim(30.0)
    assert again is not None
    assert [(i.number, dict(i.event)) for i in again.inbox] == [(1, _EVENT)]
    await store.send(run_id, {"type": "Other", "data": {}})
    arrived = await store.park(run_id, again.token, _progress(cursor=1))
    assert isinstance(arrived, tuple)
    assert [i.number for i in arrived] == [2]
    inbox, cancel = await store.renew(run_id, again.token, 30.0, _progress(cursor=2), after=2)
    assert (inbox, cancel) == ((), False)
    await store.finish(run_id, again.token, RunStatus.COMPLETED, events=[], result="42")
    await _expect(RunFinishedError, store.send(run_id, _EVENT))
    assert await store.send(run_id, _EVENT, "key-1") is False
    await _expect(RunNotFoundError, store.send("nope", _EVENT))


async def check_cancel_and_delete(store: RunStore) -> None:
    """Cancel a waiting run at once, an owned one through its owner; delete finished."""
    waiting, owned = _new_id(), _new_id()
    await store.create(waiting, "Flow", {})
    claim = await store.claim(30.0)
    assert claim is not None
    await store.park(waiting, claim.token, _progress())
    await _expect(RunNotFinishedError, store.delete(waiting))
    assert (await store.cancel(waiting)).status is RunStatus.CANCELLED
    await _expect(RunFinishedError, store.cancel(waiting))
    await store.delete(waiting)
    await _expect(RunNotFoundError, store.get(waiting))
    await store.create(owned, "Flow", {})
    claim = await store.claim(30.0)
    assert claim is not None
    record = await store.cancel(owned)
    assert (record.status, record.cancel_requested) == (RunStatus.RUNNING, True)
    assert (await store.renew(owned, claim.token, 30.0, None))[1] is True
    parked = await store.park(owned, claim.token, _progress())
    record = await store.get(owned)
    assert parked == record
    assert (record.status, record.finish_count) == (RunStatus.CANCELLED, 1)


async def check_create_claimed(store: RunStore) -> None:
    """A run created claimed belongs to its creator until it parks it."""
    run_id = _new_id()
    claim = await store.create_claimed(run_id, "Flow", {"n": 2}, 30.0)
    assert (claim.record.run_id, dict(claim.start), claim.snapshot) == (run_id, {"n": 2}, None)
    assert await store.claim(30.0) is None
    parked = await store.park(run_id, claim.token, _progress())
    assert isinstance(parked, RunRecord)
    assert (parked.status, parked.owner) == (RunStatus.WAITING, None)


async def check_release(store: RunStore) -> None:
    """A released run can be claimed again at once."""
    run_id = _new_id()
    await store.create(run_id, "Flow", {})
    claim = await store.claim(30.0)
    assert claim is not None
    await store.release(run_id, claim.token)
    again = await store.claim(30.0)
    assert again is not None
    assert again.token != claim.token


#: Every check, in the order :func:`check_run_store` runs them.
CHECKS: tuple[_Check, ...] = (
    check_create_get_list,
    check_claim_is_exclusive,
    check_expired_lease_is_taken_over,
    check_park_send_resume,
    check_cancel_and_delete,
    check_create_claimed,
    check_release,
)


async def check_run_store(make_store: StoreFactory) -> None:
    """Run every check, each on a fresh empty store from ``make_store``.

    Raises:
        AssertionError: The store does not behave as :class:`RunStore` documents; the message
            and the failing check's name say how.
    """
    for check in CHECKS:
        async with make_store() as store:
            try:
                await check(store)
            except AssertionError as exc:
                raise AssertionError(f"{check.__name__}: {exc}") from exc
