"""Property: every event sent by id is applied exactly once, however sends, repeats and resumes
interleave; a repeat with the same idempotency key is never applied again."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowkit.durable import DurableRuns
from flowkit.events import HumanResponseEvent
from flowkit.store import RunStatus

from .apps import CountingFlow

Op = tuple[str, str | None]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.sampled_from([None, "k1", "k2", "k3"])),
        st.tuples(st.just("resume"), st.none()),
    ),
    max_size=8,
)


# Each example drives a run through the store several times: keep CI time modest.
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
async def test_each_event_is_applied_exactly_once(store_url: str, steps: list[Op]) -> None:
    async with DurableRuns(CountingFlow, store_url) as runs:
        run_id = (await runs.run()).run_id
        keys: set[str] = set()
        expected = 0
        for op, key in steps:
            if op == "send":
                fresh = await runs.send_event(
                    run_id, HumanResponseEvent(response="x"), idempotency_key=key
                )
                assert fresh == (key is None or key not in keys)
                expected += fresh
                if key is not None:
                    keys.add(key)
            else:
                assert (await runs.resume(run_id)).status is RunStatus.WAITING
        await runs.send_event(run_id, HumanResponseEvent(response="end"))
        done = await runs.resume(run_id)
    assert (done.status, done.result, done.finish_count) == (RunStatus.COMPLETED, expected + 1, 1)
