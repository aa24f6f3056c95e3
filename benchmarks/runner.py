"""Repetition and timing of the scenarios, and the results table and JSON."""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from benchmarks.impls import Impl
from benchmarks.scenarios import Scenario
from benchmarks.trial import TrialOptions

if sys.version_info < (3, 11):  # pragma: no cover - anyio depends on the backport there
    from exceptiongroup import BaseExceptionGroup


@dataclass(frozen=True)
class Config:
    """How to run: repetitions, the warm-up count, sizes and the per-trial time limit."""

    reps: int = 5
    warmup: int = 1
    quick: bool = False
    trial_timeout: float = 120.0
    sizes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def sizes_for(self, scenario: Scenario, impl: str) -> tuple[int, ...]:
        """The scenario's sizes for ``impl``; ``sizes`` overrides them (llama's caps stay
        ceilings: an override above them runs llama at its largest cap)."""
        override = self.sizes.get(scenario.name)
        if override is None:
            return scenario.sizes_for(impl, self.quick)
        if impl == "llama":
            cap = max(scenario.sizes_for("llama", self.quick))
            return tuple(dict.fromkeys(min(n, cap) for n in override))
        return override


@dataclass
class Row:
    """The measurements of one scenario metric at one size, implementation and backend."""

    scenario: str
    metric: str
    impl: str
    backend: str
    n: int
    unit: str
    samples: list[float] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    pending: str | None = None

    @property
    def label(self) -> str:
        return self.scenario if self.metric == "total" else f"{self.scenario}.{self.metric}"

    @property
    def ok(self) -> bool:
        return self.error is None and self.pending is None and bool(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def per_op_us(self) -> float:
        return self.median / self.n * 1e6


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _summarise(exc: BaseException) -> str:
    """``Type: message (file:line in function)`` of the innermost leaf exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    where = ""
    tb = traceback.extract_tb(exc.__traceback__)
    if tb:
        frame = tb[-1]
        where = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}{where}"[:300]


def run_group(
    scenario: Scenario, impl: Impl, backend: str, config: Config, clock_start: float
) -> list[Row]:
    """Run one scenario on one implementation and backend: every size, every repetition.

    All trials of the group share one event loop (``anyio.run``); each is preceded by a
    full garbage collection and bounded by ``config.trial_timeout``. The first
    ``config.warmup`` trials are not timed; the first one also runs the scenario's
    untimed verification and, for memory scenarios, traces memory.
    """
    sizes = config.sizes_for(scenario, impl.name)
    if impl.unavailable is not None:
        return [
            Row(scenario.name, m, impl.name, backend, n, scenario.unit, pending=impl.unavailable)
            for n in sizes
            for m in scenario.metrics
        ]
    trial = impl.trials[scenario.name]
    rows: list[Row] = []

    async def main() -> None:
        for n in sizes:
            group = {
                m: Row(scenario.name, m, impl.name, backend, n, scenario.unit)
                for m in scenario.metrics
            }
            rows.extend(group.values())
            try:
                for i in range(max(1, config.warmup) + config.reps):
                    opts = TrialOptions(verify=i == 0, trace_memory=i == 0 and scenario.memory)
                    gc.collect()
                    with anyio.fail_after(config.trial_timeout):
                        result = await trial(n, opts)
                    for metric, row in group.items():
                        if i >= max(1, config.warmup):
                            row.samples.append(result.times[metric])
                        for key, value in result.extra.items():
                            row.extra.setdefault(key, value)
            except TimeoutError as exc:
                for row in group.values():
                    row.error = f"timed out: one trial took over {config.trial_timeout:g} s"
                    row.traceback = "".join(traceback.format_exception(exc))
                raise
            except Exception as exc:
                for row in group.values():
                    row.error = _summarise(exc)
                    row.traceback = "".join(traceback.format_exception(exc))
                raise
            first = group[scenario.metrics[0]]
            log(
                f"[{time.perf_counter() - clock_start:7.1f}s] {scenario.name:<9} "
                f"{impl.name:<8} {backend:<8} N={n:<7} "
                + "  ".join(
                    f"{r.label}: {r.median:.4f} s ({r.per_op_us:,.1f} µs/{r.unit})"
                    for r in group.values()
                )
                + (f"  {_format_extra(first.extra)}" if first.extra else "")
            )

    try:
        anyio.run(main, backend=backend)
    except Exception as exc:
        failed = [r for r in rows if r.error is not None]
        if not failed:  # failed outside a trial (e.g. while closing the event loop)
            for row in rows:
                row.error = _summarise(exc)
                row.traceback = "".join(traceback.format_exception(exc))
            failed = rows
        log(
            f"[{time.perf_counter() - clock_start:7.1f}s] {scenario.name:<9} {impl.name:<8} "
            f"{backend:<8} FAILED: {failed[0].error}\n{failed[0].traceback}"
        )
        done = {r.n for r in rows}
        for n in sizes:
            if n not in done:
                for m in scenario.metrics:
                    rows.append(
                        Row(scenario.name, m, impl.name, backend, n, scenario.unit,
                            error="not run: an earlier size failed")
                    )  # fmt: skip
    return rows


def _format_extra(extra: dict[str, float]) -> str:
    parts = []
    if "json_bytes" in extra:
        parts.append(f"json {extra['json_bytes'] / 1000:,.0f} kB")
    if "bytes_per_run" in extra:
        parts.append(f"{extra['bytes_per_run'] / 1000:,.1f} kB/run")
    return ", ".join(parts)


# -- ratios -----------------------------------------------------------------------------------


def find(
    rows: Iterable[Row], scenario: str, metric: str, impl: str, backend: str, n: int | None
) -> Row | None:
    """The successful row matching; ``n=None`` takes the largest size measured."""
    found = [
        r
        for r in rows
        if r.ok
        and (r.scenario, r.metric, r.impl, r.backend) == (scenario, metric, impl, backend)
        and (n is None or r.n == n)
    ]
    return max(found, key=lambda r: r.n) if found else None


@dataclass(frozen=True)
class Ratios:
    """flowkit's per-op cost over the floor's (same backend and N), over llama's (asyncio;
    llama's N when it has the same N, else its largest, flagged ``llama_n``), and trio over
    asyncio."""

    floor: float | None = None
    llama: float | None = None
    llama_n: int | None = None
    trio: float | None = None


def ratios(rows: Sequence[Row], row: Row) -> Ratios:
    """The ratios shown on ``row``: all three on flowkit's rows, trio/asyncio on the floor's."""
    if not row.ok:
        return Ratios()
    aio = find(rows, row.scenario, row.metric, row.impl, "asyncio", row.n)
    trio = row.per_op_us / aio.per_op_us if aio and row.backend == "trio" else None
    if row.impl != "flowkit":
        return Ratios(trio=trio)
    floor = find(rows, row.scenario, row.metric, "floor", row.backend, row.n)
    llama = None
    if row.backend == "asyncio":
        llama = find(rows, row.scenario, row.metric, "llama", "asyncio", row.n) or find(
            rows, row.scenario, row.metric, "llama", "asyncio", None
        )
    return Ratios(
        floor=row.per_op_us / floor.per_op_us if floor else None,
        llama=row.per_op_us / llama.per_op_us if llama else None,
        llama_n=llama.n if llama else None,
        trio=trio,
    )


# -- table ------------------------------------------------------------------------------------

IMPL_ORDER = {"floor": 0, "flowkit": 1, "llama": 2}
BACKEND_ORDER = {"asyncio": 0, "trio": 1}


def sort_rows(rows: Sequence[Row], scenario_order: Sequence[str]) -> list[Row]:
    """By scenario, then metric (in measuring order), then implementation and backend; the
    curve's rows go by N first so each size's implementations sit together."""
    order = {name: i for i, name in enumerate(scenario_order)}
    metric_order: dict[tuple[str, str], int] = {}
    for r in rows:
        metric_order.setdefault((r.scenario, r.metric), len(metric_order))

    def key(r: Row) -> tuple[int, int, int, int, int, int]:
        return (
            order.get(r.scenario, len(order)),
            metric_order[(r.scenario, r.metric)],
            r.n if r.scenario == "curve" else 0,
            IMPL_ORDER.get(r.impl, 9),
            BACKEND_ORDER.get(r.backend, 9),
            r.n,
        )

    return sorted(rows, key=key)


def fmt_ratio(value: float | None, mark: str = "") -> str:
    """Two decimals, or two significant digits below 0.1 (``0.0042``); empty for None."""
    if value is None:
        return ""
    return (f"{value:.2f}" if value >= 0.1 else f"{value:.2g}") + mark


def table(rows: Sequence[Row], scenario_order: Sequence[str]) -> str:
    """The results as a Markdown table (also readable as plain text)."""
    head = ["scenario", "N", "impl", "backend", "median s", "µs/op", "op", "/floor", "/llama"]
    head += ["trio/aio", "notes"]
    lines = [head]
    llama_mismatch = False
    for r in sort_rows(rows, scenario_order):
        rt = ratios(rows, r)
        mark = ""
        if rt.llama is not None and rt.llama_n != r.n:
            mark, llama_mismatch = "*", True
        if r.pending is not None:
            cells = ["pending", "pending"]
            note = r.pending
        elif r.error is not None:
            cells = ["FAILED", ""]
            note = r.error
        else:
            cells = [f"{r.median:.4f}", f"{r.per_op_us:,.1f}"]
            note = _format_extra(r.extra)
            if r.impl == "llama" and r.n != max(
                (x.n for x in rows if x.scenario == r.scenario and x.impl != "llama"), default=r.n
            ):
                note = ", ".join(filter(None, [note, "N capped for llama"]))
        ratio_cells = [fmt_ratio(rt.floor), fmt_ratio(rt.llama, mark), fmt_ratio(rt.trio)]
        lines.append([r.label, f"{r.n:,}", r.impl, r.backend, *cells, r.unit, *ratio_cells, note])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    right = {1, 4, 5, 7, 8, 9}

    def fmt(line: list[str]) -> str:
        cells = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(line)
        ]
        return "| " + " | ".join(cells) + " |"

    sep = [("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths)]
    out = [fmt(lines[0]), "|" + "|".join(sep) + "|"]
    out += [fmt(line) for line in lines[1:]]
    if llama_mismatch:
        out.append("")
        out.append(
            "* llama ran at a smaller N than flowkit (see its row): the ratio compares "
            "per-op costs at different N, which favours llama where its cost grows with N."
        )
    return "\n".join(out)


def curve_table(rows: Sequence[Row]) -> str:
    """The ``curve`` scenario pivoted: one line per N, µs/event per implementation/backend."""
    curve = [r for r in rows if r.scenario == "curve"]
    columns = sorted(
        dict.fromkeys((r.impl, r.backend) for r in curve),
        key=lambda c: (IMPL_ORDER.get(c[0], 9), BACKEND_ORDER.get(c[1], 9)),
    )
    if not columns:
        return ""
    head = "| N | " + " | ".join(f"{impl} {backend}" for impl, backend in columns) + " |"
    out = [head, "|---:|" + "---:|" * len(columns)]
    for n in sorted({r.n for r in curve}):
        cells = []
        for impl, backend in columns:
            match = [r for r in curve if (r.impl, r.backend, r.n) == (impl, backend, n)]
            if not match:
                cells.append("")
            elif match[0].ok:
                cells.append(f"{match[0].per_op_us:,.1f}")
            else:
                cells.append("pending" if match[0].pending else "FAILED")
        out.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# -- json -------------------------------------------------------------------------------------


def to_json(
    rows: Sequence[Row],
    targets: Sequence[dict[str, Any]],
    machine: dict[str, Any],
    config: Config,
    impls: dict[str, Impl],
) -> dict[str, Any]:
    results = []
    for r in rows:
        rt = ratios(rows, r)
        results.append(
            {
                "scenario": r.scenario,
                "metric": r.metric,
                "label": r.label,
                "impl": r.impl,
                "backend": r.backend,
                "n": r.n,
                "unit": r.unit,
                "samples_s": r.samples,
                "median_s": r.median if r.ok else None,
                "per_op_us": r.per_op_us if r.ok else None,
                "extra": r.extra,
                "ratio_flowkit_floor": rt.floor,
                "ratio_flowkit_llama": rt.llama,
                "ratio_llama_n": rt.llama_n,
                "ratio_trio_asyncio": rt.trio,
                "error": r.error,
                "traceback": r.traceback,
                "pending": r.pending,
            }
        )
    return {
        "machine": machine,
        "config": {
            "reps": config.reps,
            "warmup": config.warmup,
            "quick": config.quick,
            "trial_timeout_s": config.trial_timeout,
        },
        "implementations": {
            name: {"version": i.version, "backends": list(i.backends), "unavailable": i.unavailable}
            for name, i in impls.items()
        },
        "results": results,
        "targets": list(targets),
    }


def write_json(path: str, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
