"""Benchmarks for flowkit: each scenario written three ways, timed on each backend.

Run ``python -m benchmarks`` from the repository root (``make bench`` does this); see
``docs/benchmarks.md`` for what the numbers mean.

* ``flowkit``: the scenario on flowkit's public API (``benchmarks.scenarios_workflow``).
* ``llama``: the very same code on llama-index-workflows 2.x (``import workflows``).
* ``floor``: the scenario hand-written on AnyIO memory object streams and task groups
  (``benchmarks.floor``), the least an engine of this shape can cost.
"""
