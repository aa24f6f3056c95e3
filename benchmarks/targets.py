"""The performance targets flowkit is held to, evaluated on the medians of a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from benchmarks.runner import Row, find, fmt_ratio, ratios

FLOOR_LIMITS = {"chain": 2.0, "hitl": 2.0, "events": 3.0, "fanout": 3.0, "stream": 3.0}
LLAMA_LIMIT = 0.2
TRIO_LIMIT = 1.3
CURVE_LIMIT = 1.5
NOT_AGAINST_LLAMA = {"json_dumps"}  # times the json module on each engine's dict, not the engine


@dataclass(frozen=True)
class TargetResult:
    target: str
    scenario: str
    backend: str
    value: float | None
    limit: float
    status: str  # PASS, MISS, or "n/a" when a number it needs is missing
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value <= limit else "MISS"


def evaluate(rows: Sequence[Row], backends: Sequence[str]) -> list[TargetResult]:
    """Every target that the run's implementations, backends and scenarios bear on."""
    out: list[TargetResult] = []
    flowkit = [r for r in rows if r.impl == "flowkit"]
    scenarios = list(dict.fromkeys(r.scenario for r in rows))

    for scenario, limit in FLOOR_LIMITS.items():
        if scenario not in scenarios or not flowkit:
            continue
        for backend in backends:
            row = find(flowkit, scenario, "total", "flowkit", backend, None)
            value = ratios(rows, row).floor if row else None
            out.append(TargetResult("flowkit/floor", scenario, backend, value, limit, "", ""))

    llama_rows = [r for r in rows if r.impl == "llama" and r.metric not in NOT_AGAINST_LLAMA]
    for scenario, metric in dict.fromkeys((r.scenario, r.metric) for r in llama_rows):
        label = scenario if metric == "total" else f"{scenario}.{metric}"
        candidates = [
            r
            for r in flowkit
            if (r.scenario, r.metric, r.backend) == (scenario, metric, "asyncio") and r.ok
        ]
        value, detail = None, ""
        for row in sorted(candidates, key=lambda r: r.n):
            rt = ratios(rows, row)
            if rt.llama is not None and (value is None or rt.llama_n == row.n):
                value = rt.llama
                detail = f"flowkit N={row.n:,} vs llama N={rt.llama_n:,}"
        out.append(TargetResult("flowkit/llama", label, "asyncio", value, LLAMA_LIMIT, "", detail))

    if {"asyncio", "trio"} <= set(backends):
        for scenario, metric, n in dict.fromkeys((r.scenario, r.metric, r.n) for r in flowkit):
            label = scenario if metric == "total" else f"{scenario}.{metric}"
            if scenario == "curve":
                label = f"curve N={n:,}"
            row = find(flowkit, scenario, metric, "flowkit", "trio", n)
            value = ratios(rows, row).trio if row else None
            floor = find(rows, scenario, metric, "floor", "trio", n)
            floor_trio = ratios(rows, floor).trio if floor else None
            detail = f"floor's own trio/asyncio: {fmt_ratio(floor_trio)}" if floor_trio else ""
            out.append(
                TargetResult("flowkit trio/asyncio", label, "trio", value, TRIO_LIMIT, "", detail)
            )

    curve = [r for r in rows if r.scenario == "curve" and r.impl in ("flowkit", "floor")]
    for impl in ("flowkit", "floor"):
        for backend in backends:
            points = sorted((r for r in curve if (r.impl, r.backend) == (impl, backend)), key=_n)
            if not points:
                continue
            small, large = points[0], points[-1]
            value = None
            if small.ok and large.ok and small is not large:
                value = large.per_op_us / small.per_op_us
            detail = f"µs/event at N={large.n:,} over N={small.n:,}"
            name = "curve flatness" if impl == "flowkit" else "curve flatness (floor, info)"
            out.append(TargetResult(name, "curve", backend, value, CURVE_LIMIT, "", detail))

    return [replace(t, status=_status(t.value, t.limit)) for t in out]


def _n(row: Row) -> int:
    return row.n


def targets_table(results: Sequence[TargetResult]) -> str:
    lines = ["| target | scenario | backend | value | limit | status | detail |"]
    lines.append("|---|---|---|---:|---:|---|---|")
    for t in results:
        value = fmt_ratio(t.value) or "-"
        lines.append(
            f"| {t.target} | {t.scenario} | {t.backend} | {value} | <= {t.limit:g} "
            f"| {t.status} | {t.detail} |"
        )
    return "\n".join(lines)
