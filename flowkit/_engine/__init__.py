"""flowkit's engine: how one run works.

A ``Workflow`` is read once into a ``StepGraph`` (``signature.py`` reads each step,
``graph.py`` validates the whole). ``workflow.run()`` builds a ``RunState``
(``state.py``): the store, each step's queued and in-flight deliveries, waiters and
unread stream events. ``run.py`` runs it as one AnyIO task group: routing an event
appends a delivery to its step's queue and wakes or starts one of that step's workers
(``worker.py``), which calls the step, retries it, and routes what it returns. Events
for the caller go through ``stream.py``. Every change of ``RunState`` happens between
two awaits, so ``freeze.py`` can freeze it at any moment, with the converter that
``snapshot.py`` configures; ``registry.py`` maps the workflow's event classes to the
tags a snapshot stores, and ``values.py`` stores values typed ``Any``. ``waiters.py``
holds the steps paused in ``wait_for_event`` and ``collect_events``. ``backend.py`` is the only
module that touches asyncio or trio.
"""
