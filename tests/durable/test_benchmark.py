"""The durable-run benchmark runs, checks its own results and prints every metric."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]


def test_durable_benchmark_runs_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "durable.json"
    args = ["--size", "20", "--json", str(out)]
    if POSTGRES_URL:
        args += ["--postgres", POSTGRES_URL]
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "benchmarks.durable", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    stores = {"sqlite", "postgres"} if POSTGRES_URL else {"sqlite"}
    assert set(results) == stores
    for store in stores:
        for impl in ("flowkit", "floor"):
            assert set(results[store][impl]) == {
                "park_us",
                "answer_us",
                "resume_median_us",
                "resume_p99_us",
                "workers_runs_per_s",
                "bytes",
            }
    assert "| sqlite | park one run |" in done.stdout
