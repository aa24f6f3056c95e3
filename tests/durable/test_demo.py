"""``make demo``'s durable half: asked in one process, parked in SQLite, answered in another."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_durable_demo_parks_in_one_process_and_finishes_in_another() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLOWKIT_STORE"}
    done = subprocess.run(
        [sys.executable, "docs/examples/durable_human_in_the_loop.py"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    stages = [line for line in lines if line.startswith("==")]
    assert len(stages) == 3
    assert "store: sqlite:///flowkit-runs.db" in done.stdout
    assert any(line.endswith("is waiting, asking 'Enter a number: '") for line in lines)
    assert any(line.endswith("is completed: result '42'") for line in lines)
    assert "\tcompleted\t" in lines[-1]
