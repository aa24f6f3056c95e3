"""The scenario catalogue: names, sizes, units and what each one measures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """One scenario: what a trial does and at which sizes each implementation runs it.

    ``sizes`` are the default sizes (several for ``curve``), ``quick`` the ``--quick`` ones,
    ``llama`` the capped sizes for llama-index-workflows, whose per-event cost grows with
    the backlog (``None``: same as the default). ``metrics`` names the timed parts of a
    trial; ``memory`` asks the runner to trace memory on the warm-up trial.
    """

    name: str
    unit: str
    summary: str
    sizes: tuple[int, ...]
    quick: tuple[int, ...]
    llama: tuple[int, ...] | None = None
    llama_quick: tuple[int, ...] | None = None
    metrics: tuple[str, ...] = ("total",)
    memory: bool = False

    def sizes_for(self, impl: str, quick: bool) -> tuple[int, ...]:
        if impl == "llama":
            capped = self.llama_quick if quick else self.llama
            if capped is not None:
                return capped
        return self.quick if quick else self.sizes


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "chain",
            "run",
            "sequential runs of a 10-step linear workflow (StartEvent -> E1 .. E9 -> StopEvent)",
            sizes=(1_000,),
            quick=(20,),
            llama=(200,),
            llama_quick=(10,),
        ),
        Scenario(
            "events",
            "event",
            "one step sends N events (ctx.send_event); a 1-worker step counts them in the store",
            sizes=(20_000,),
            quick=(200,),
            llama=(500,),
            llama_quick=(50,),
        ),
        Scenario(
            "curve",
            "event",
            "the events scenario at growing N: per-event cost should stay flat",
            sizes=(1_000, 10_000, 100_000),
            quick=(100, 1_000),
            llama=(100, 300, 1_000),
            llama_quick=(20, 50),
        ),
        Scenario(
            "fanout",
            "event",
            "N events to an 8-worker step, fan-in with ctx.collect_events(ev, [Done] * N)",
            sizes=(1_000,),
            quick=(50,),
            llama=(500,),
            llama_quick=(20,),
        ),
        Scenario(
            "backlog",
            "pair",
            "N Left events queue up, then N Right; a 1-worker step pairs them with "
            "ctx.collect_events(ev, [Left, Right]): per-pair cost should stay flat",
            sizes=(10_000,),
            quick=(100,),
            llama=(300,),
            llama_quick=(20,),
        ),
        Scenario(
            "stream",
            "event",
            "N events through ctx.write_event_to_stream, read with handler.stream_events()",
            sizes=(20_000,),
            quick=(200,),
            llama=(5_000,),
            llama_quick=(100,),
        ),
        Scenario(
            "hitl",
            "round trip",
            "N InputRequiredEvent -> HumanResponseEvent round trips in one run",
            sizes=(1_000,),
            quick=(20,),
            llama=(300,),
            llama_quick=(10,),
        ),
        Scenario(
            "hitl_run",
            "run",
            "sequential runs with one ctx.wait_for_event round trip each (incumbent docs' shape)",
            sizes=(300,),
            quick=(10,),
            llama=(100,),
            llama_quick=(5,),
        ),
        Scenario(
            "snapshot",
            "queued event",
            "a paused run holding N queued events and N/10 store keys: to_dict, "
            "json.dumps, Context.from_dict",
            sizes=(10_000,),
            quick=(200,),
            llama=(500,),
            llama_quick=(50,),
            metrics=("to_dict", "json_dumps", "from_dict"),
        ),
        Scenario(
            "parked",
            "run",
            "N runs parked on an InputRequiredEvent at once: answer all and collect all; "
            "start: run() all and wait until all are parked (memory traced on the warm-up)",
            sizes=(10_000,),
            quick=(50,),
            llama=(1_000,),
            llama_quick=(20,),
            metrics=("total", "start"),
            memory=True,
        ),
    )
}
