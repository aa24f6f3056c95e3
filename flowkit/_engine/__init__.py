"""flowkit's engine: how one run works.

A workflow class is read once into a ``StepGraph`` (``signature.py`` reads each step,
``graph.py`` builds the whole and ``graph_checks.py`` validates it); ``setup.py`` checks
the constructor's arguments; ``blueprint.py`` derives from the graph and the instance
all a run is made from: bound step calls, the @catch_error lookup, the initial store,
and (through ``snapshot_codec.py``) the snapshot converter per serializer, freezing and
thawing; ``step_calls.py`` binds
each step to a run's context, its resources (``resources.py``, from the instance's
ResourceManager) and, for a ``def`` step, a worker thread. ``state.py`` holds a
``RunState``: the store, each step's queued and in-flight deliveries, waiters and
unread stream events. ``ledger.py`` is its single owner: every delivery lives there
once, keyed by id, and it counts the open work and decides idleness; each step's
memory object stream only hands delivery ids to workers. ``run.py`` routes events
and decides how the run ends; ``crew.py`` runs its worker tasks in one AnyIO task
group (routing an event queues a delivery and wakes or starts one of that step's
workers), and ``worker.py`` calls the step, retries it and hands back what it
returned. Steps that pause go through ``waiters.py`` (``wait_for_event``)
and ``collect.py`` (``collect_events`` buffers); ``slots.py`` limits concurrent runs;
events for the caller go through ``stream.py``. Every change of ``RunState`` happens
between two awaits, so ``freeze.py`` can freeze it at any moment with the converter
``snapshot.py`` configures, and thaw one back: ``restore.py`` reads a snapshot dict
strictly and ``consistency.py`` checks it as a whole. ``registry.py`` maps the
workflow's event classes to tags, ``event_classes.py`` lists those no step names,
``values.py`` stores values typed ``Any`` and ``models.py`` pydantic models.
``embedded.py`` runs a workflow in the caller's task group (``Workflow.open_run``).
``sync_steps.py`` brings ``ctx`` calls made in a worker thread back to the run's event
loop. ``backend.py`` is the only module that touches asyncio or trio.
"""
