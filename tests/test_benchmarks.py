"""The benchmark suite runs, and every scenario's own result check passes on flowkit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_suite_passes_its_own_checks(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "benchmarks",
            "--quick",
            "--impls",
            "flowkit,floor",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "FAILED" not in completed.stdout
    report = json.loads(out.read_text())
    measured = {(r["scenario"], r["impl"], r["backend"]) for r in report["results"]}
    for impl in ("flowkit", "floor"):
        for backend in ("asyncio", "trio"):
            assert ("chain", impl, backend) in measured


def test_recording_cost_is_measured_on_both_backends() -> None:
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-m", "benchmarks.recording", "--events", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    lines = completed.stdout.splitlines()
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "count an event",
        "count a step call",
        "asyncio",
        "trio",
    ]
