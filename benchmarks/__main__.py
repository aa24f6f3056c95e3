"""``python -m benchmarks``: run the scenarios, print the table and the targets."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from benchmarks.impls import BACKENDS, IMPLS, Impl, load_impl
from benchmarks.machine import describe, machine_info
from benchmarks.runner import (
    Config,
    Row,
    curve_table,
    log,
    run_group,
    table,
    to_json,
    write_json,
)
from benchmarks.scenarios import SCENARIOS
from benchmarks.targets import evaluate, targets_table


def _choices(value: str, allowed: Sequence[str], what: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}"
        )
    return chosen


def _size(value: str) -> tuple[str, tuple[int, ...]]:
    name, _, sizes = value.partition("=")
    if name not in SCENARIOS:
        raise argparse.ArgumentTypeError(f"unknown scenario {name!r}")
    try:
        parsed = tuple(int(v.replace("_", "")) for v in sizes.split(",") if v.strip())
    except ValueError:
        parsed = ()
    if not parsed or min(parsed) < 1:
        raise argparse.ArgumentTypeError(f"expected {name}=N[,N...] with N >= 1, got {value!r}")
    return name, parsed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time each scenario on flowkit, the hand-written AnyIO floor and "
        "llama-index-workflows, on asyncio and trio; print medians, per-op cost, ratios "
        "and the targets.",
    )
    names = list(SCENARIOS)
    p.add_argument(
        "--scenarios",
        type=lambda v: _choices(v, names, "scenario"),
        default=names,
        help=f"comma-separated subset of: {','.join(names)} (default: all)",
    )
    p.add_argument(
        "--impls",
        type=lambda v: _choices(v, IMPLS, "implementation"),
        default=list(IMPLS),
        help=f"comma-separated subset of: {','.join(IMPLS)} (default: all)",
    )
    p.add_argument(
        "--backends",
        type=lambda v: _choices(v, BACKENDS, "backend"),
        default=list(BACKENDS),
        help="comma-separated subset of: asyncio,trio (default: both; llama is asyncio only)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes and 3 repetitions (smoke test)")
    p.add_argument("--reps", type=int, help="timed repetitions per size (default 5, --quick 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up trials (default 1)")
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds one trial may take before it counts as failed (default 120, --quick 30)",
    )
    p.add_argument(
        "--size",
        action="append",
        default=[],
        type=_size,
        metavar="SCENARIO=N[,N...]",
        help="override a scenario's sizes, e.g. --size parked=10000 (repeatable; llama's caps "
        "stay ceilings)",
    )
    p.add_argument("--json", metavar="PATH", help="also write machine-readable results here")
    p.add_argument(
        "--flowkit-package",
        default="flowkit",
        metavar="NAME",
        help="import the 'flowkit' implementation from this package instead (e.g. "
        "'workflows' to try the shared scenario code on the incumbent)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:<9} per {s.unit:<12} {s.summary}")
        return 0
    config = Config(
        reps=args.reps if args.reps is not None else (3 if args.quick else 5),
        warmup=max(1, args.warmup),
        quick=args.quick,
        trial_timeout=args.timeout if args.timeout is not None else (30.0 if args.quick else 120.0),
        sizes=dict(args.size),
    )
    machine = machine_info()
    log(f"machine: {describe(machine)}")

    impls: dict[str, Impl] = {}
    for name in args.impls:
        impl = load_impl(name, args.flowkit_package)
        impls[name] = impl
        if impl.unavailable:
            log(f"note: {name} skipped ({impl.unavailable})")
        else:
            log(f"{name}: {impl.version}, backends {', '.join(impl.backends)}")

    clock = time.perf_counter()
    rows: list[Row] = []
    for scenario_name in args.scenarios:
        scenario = SCENARIOS[scenario_name]
        for impl in impls.values():
            if impl.name == "llama" and impl.unavailable:
                continue  # noted above; no "pending" rows for the incumbent
            for backend in args.backends:
                if backend in impl.backends:
                    rows += run_group(scenario, impl, backend, config, clock)
    log(f"done in {time.perf_counter() - clock:.1f} s")

    results = evaluate(rows, args.backends)
    print(f"\nMachine: {describe(machine)}")
    print(f"Median of {config.reps} timed repetitions after {config.warmup} warm-up.\n")
    print(table(rows, args.scenarios))
    if any(r.scenario == "curve" for r in rows):
        print("\nPer-event cost (µs/event) of the events scenario by N:\n")
        print(curve_table(rows))
    if results:
        print("\nTargets (medians):\n")
        print(targets_table(results))
        passed = sum(t.status == "PASS" for t in results)
        missed = sum(t.status == "MISS" for t in results)
        print(f"\n{passed} PASS, {missed} MISS, {len(results) - passed - missed} n/a")
    if args.json:
        write_json(args.json, to_json(rows, [t.to_dict() for t in results], machine, config, impls))
        log(f"wrote {args.json}")
    failed = [r for r in rows if r.error is not None]
    if failed:
        log(f"{len(failed)} measurement(s) FAILED: see the notes column")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
