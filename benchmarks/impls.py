"""The implementations a scenario runs on: flowkit, floor and llama, and how to load them."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

from benchmarks.trial import TrialFn

IMPLS = ("floor", "flowkit", "llama")
BACKENDS = ("asyncio", "trio")


@dataclass
class Impl:
    """An implementation: its trials by scenario name, or why it cannot run."""

    name: str
    backends: tuple[str, ...]
    trials: dict[str, TrialFn] = field(default_factory=dict)
    version: str = ""
    unavailable: str | None = None


def load_impl(name: str, flowkit_package: str = "flowkit") -> Impl:
    """Load one implementation; an import failure makes it ``unavailable``, not an error."""
    if name == "floor":
        from benchmarks import floor

        return Impl("floor", BACKENDS, dict(floor.TRIALS), version="anyio")
    if name == "flowkit":
        return _load_workflows_api("flowkit", flowkit_package, "flowkit", BACKENDS)
    if name == "llama":
        return _load_workflows_api("llama", "workflows", "llama-index-workflows", ("asyncio",))
    raise ValueError(f"unknown implementation {name!r}; choose from {', '.join(IMPLS)}")


def _load_workflows_api(name: str, package: str, dist: str, backends: tuple[str, ...]) -> Impl:
    from benchmarks import scenarios_workflow as sw

    try:
        lib = sw.load_lib(package, dist)
        trials = sw.trials(sw.build_flows(lib))
    except Exception as exc:  # any failure to import or to define the workflows
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Impl(name, backends, unavailable=f"cannot load {package!r}: {last}")
    return Impl(name, backends, trials, version=f"{package} {lib.version}")
