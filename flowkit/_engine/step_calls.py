"""Bind a step function to one run: its ``ctx``, its resources, and a thread if it is sync.

The blueprint reads each step once into a ``Binder`` (:func:`binder`); each run binds
it to its context. A plain ``async def`` step without resources gets the bare function
or a one-line lambda, as cheap as calling it directly; only steps that are sync or take
resources pay for what they use.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeAlias

from ..events import Event
from ..resource import ResourceManager
from .resources import resolve
from .signature import StepConfig
from .sync_steps import run_in_thread
from .worker import StepCall

Binder: TypeAlias = Callable[[object], StepCall]
"""Makes a step's call for one run from that run's ``ctx``."""


def is_sync(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is a step written as ``def`` (it runs in a worker thread)."""
    return not inspect.iscoroutinefunction(func)


def binder(func: Callable[..., Any], config: StepConfig, manager: ResourceManager) -> Binder:
    """How ``func`` (a bound method or free function) is called in each run.

    Args:
        func: The step function.
        config: Its StepConfig.
        manager: The workflow instance's ResourceManager, for its resource parameters.
    """
    if config.resources:
        return functools.partial(_with_resources, func, config, manager, is_sync(func))
    if is_sync(func):
        return functools.partial(_in_thread, func, config)
    return functools.partial(_plain, func, config)


def _plain(func: Callable[..., Any], config: StepConfig, ctx: object) -> StepCall:
    """A one-argument callable running the step on an event, with ``ctx`` filled in."""
    if config.positional == ("event",):
        return func
    if config.positional == ("event", "ctx"):
        return lambda ev: func(ev, ctx)
    if config.positional == ("ctx", "event"):
        return functools.partial(func, ctx)  # a C-level call: no frame of its own
    event_name, ctx_name = config.event_name, config.context_parameter
    if ctx_name is None:
        return lambda ev: func(**{event_name: ev})
    return lambda ev: func(**{event_name: ev, ctx_name: ctx})


def _in_thread(func: Callable[..., Any], config: StepConfig, ctx: object) -> StepCall:
    """The call of a sync step: the same binding, run in a worker thread."""
    call = _plain(func, config, ctx)

    async def in_thread(event: Event) -> Any:
        return await run_in_thread(call, event)

    return in_thread


def _with_resources(
    func: Callable[..., Any],
    config: StepConfig,
    manager: ResourceManager,
    sync: bool,
    ctx: object,
) -> StepCall:
    """The call of a step with resource parameters: resolve them on the loop, then call."""
    params = config.resources
    event_name, ctx_name = config.event_name, config.context_parameter
    fixed = {} if ctx_name is None else {ctx_name: ctx}

    async def call(event: Event) -> Any:
        kwargs = await resolve(manager, params)
        bound = functools.partial(func, **fixed, **kwargs, **{event_name: event})
        if sync:
            return await run_in_thread(bound)
        return await bound()

    return call
