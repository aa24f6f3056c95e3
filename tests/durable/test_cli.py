"""``flowkit runs`` and ``flowkit worker`` as a user runs them: real processes, both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.durable.apps:registry"
SEED = "tests.durable.apps:HumanInTheLoopWorkflow"
RUN_KEYS = {"run_id", "workflow", "status", "prompt", "result", "error"}


def flowkit(store_url: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLOWKIT_STORE"}
    done = subprocess.run(
        [sys.executable, "-m", "flowkit.cli", *args, "--store", store_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_start_list_show_send_wait(store_url: str) -> None:
    started = flowkit(store_url, "runs", "start", "--app", SEED)
    run_id, status = started.stdout.split()
    assert status == "waiting"
    lines = flowkit(store_url, "runs", "list").stdout.splitlines()
    assert [line.split("\t")[::2] for line in lines] == [[run_id, "waiting", "Enter a number: "]]
    shown = json.loads(flowkit(store_url, "runs", "show", run_id, "--json").stdout)
    assert set(shown) >= RUN_KEYS
    assert (shown["status"], shown["prompt"], shown["result"]) == (
        "waiting",
        "Enter a number: ",
        None,
    )
    text = flowkit(store_url, "runs", "show", run_id).stdout
    assert "prompt: Enter a number: " in text
    sent = flowkit(
        store_url, "runs", "send", run_id, "--response", "42", "--app", SEED, "--wait", "--json"
    )
    outcome = json.loads(sent.stdout)
    assert (outcome["run_id"], outcome["status"], outcome["result"]) == (run_id, "completed", "42")
    again = flowkit(store_url, "runs", "send", run_id, "--response", "7", ok=False)
    assert again.returncode == 2
    assert again.stderr == (
        f"flowkit: Run {run_id!r} is completed: it takes no more events. Start a new run instead.\n"
    )


def test_listing_as_json_pages_and_filters(store_url: str) -> None:
    ids = [
        flowkit(store_url, "runs", "start", "--app", APP, "--workflow", "CountingFlow").stdout
        for _ in range(3)
    ]
    ids = [line.split()[0] for line in ids]
    listing = json.loads(flowkit(store_url, "runs", "list", "--json").stdout)
    assert [run["run_id"] for run in listing] == ids
    assert all(set(run) >= RUN_KEYS for run in listing)
    page = flowkit(store_url, "runs", "list", "--limit", "2", "--offset", "1").stdout
    assert [line.split("\t")[0] for line in page.splitlines()] == ids[1:]
    assert flowkit(store_url, "runs", "list", "--status", "completed").stdout == ""
    cancelled = json.loads(flowkit(store_url, "runs", "cancel", ids[0], "--json").stdout)
    assert cancelled["status"] == "cancelled"
    assert flowkit(store_url, "runs", "delete", ids[0]).stdout == f"{ids[0]}\tdeleted\n"
    assert len(json.loads(flowkit(store_url, "runs", "list", "--json").stdout)) == 2


def test_start_arguments_and_another_event_class(store_url: str) -> None:
    started = flowkit(
        store_url,
        "runs",
        "start",
        "--app",
        APP,
        "--workflow",
        "ApprovalFlow",
        "--set",
        'item="invoice 7"',
        "--json",
    )
    run = json.loads(started.stdout)
    assert (run["status"], run["prompt"]) == ("waiting", "Approve invoice 7? ")
    sent = flowkit(
        store_url,
        "runs",
        "send",
        run["run_id"],
        "--event",
        "tests.durable.apps:Approval",
        "--data",
        '{"approved": true}',
        "--app",
        APP,
        "--wait",
        "--json",
    )
    assert json.loads(sent.stdout)["result"] == {"item": "invoice 7", "approved": True}


def test_errors_are_one_line(store_url: str) -> None:
    cases = {
        ("runs", "show", "nope"): "flowkit: No run with id 'nope' in the store.",
        ("runs", "cancel", "nope"): "flowkit: No run with id 'nope' in the store.",
        ("runs", "start", "--app", SEED, "--set", "n=oops"): "flowkit: --set n: 'oops' is not JSON",
        ("runs", "start", "--app", "tests.durable.apps:Approval"): "flowkit: --app tests.durable",
        ("runs", "send", "x", "--response", "1", "--wait"): "flowkit: --wait drives the run here",
        ("worker", "--app", SEED, "--concurrency", "0"): "flowkit: --concurrency must be at least",
    }
    for args, start in cases.items():
        done = flowkit(store_url, *args, ok=False)
        assert done.returncode == 2, args
        assert done.stderr.startswith(start), (args, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr
