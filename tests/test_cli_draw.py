"""``flowkit draw``: in-process and as a real subprocess, good and bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.drawing_workflows import HumanInTheLoopWorkflow

from flowkit.cli.main import main
from flowkit.events import InputRequiredEvent
from flowkit.representation import WorkflowGraph

TESTS = Path(__file__).parent
SEED = "fixtures.drawing_workflows:HumanInTheLoopWorkflow"


@pytest.fixture(autouse=True)
def in_tests_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from tests/, so that ``fixtures.drawing_workflows`` is importable by name."""
    monkeypatch.chdir(TESTS)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=TESTS,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )


def test_draw_writes_mermaid_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", SEED]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert "n_step1 --> n_InputRequiredEvent" in out


@pytest.mark.parametrize(
    ("name", "expected"),
    [("flow.html", "<!DOCTYPE html>"), ("flow.svg", "<svg "), ("flow.mmd", "flowchart TD")],
)
def test_the_format_follows_the_output_suffix(tmp_path: Path, name: str, expected: str) -> None:
    target = tmp_path / name
    assert main(["draw", SEED, "-o", str(target)]) == 0
    assert target.read_text().startswith(expected)


def test_json_format_is_the_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", SEED, "--format", "json"]) == 0
    graph = WorkflowGraph.model_validate(json.loads(capsys.readouterr().out))
    assert graph.name == "HumanInTheLoopWorkflow"


def test_an_instance_can_be_drawn_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", "fixtures.drawing_workflows:ThirtySteps", "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.count('"]') >= 30


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:Flow", "flowkit: cannot find module 'no_such_module'\n"),
        (
            "fixtures.drawing_workflows:NoSuchFlow",
            "flowkit: module 'fixtures.drawing_workflows' has no attribute 'NoSuchFlow'\n",
        ),
        ("fixtures.drawing_workflows", "flowkit: expected MODULE:NAME, got "),
        (
            "fixtures.drawing_workflows:Chunk",
            "flowkit: 'fixtures.drawing_workflows:Chunk' is not a Workflow class or instance\n",
        ),
    ],
)
def test_bad_workflow_is_a_one_line_error(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draw", spec]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1


def test_bad_snapshot_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    assert main(["draw", SEED, "--snapshot", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"flowkit: cannot read snapshot '{missing}': No such file or directory\n"
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["draw", SEED, "--snapshot", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"flowkit: snapshot '{broken}' is not JSON: ")


def test_subprocess_draws_and_fails_with_exit_status_2(tmp_path: Path) -> None:
    done = run_cli("draw", SEED, "-o", str(tmp_path / "seed.html"))
    assert done.returncode == 0, done.stderr
    assert "step1" in (tmp_path / "seed.html").read_text()
    done = run_cli("draw", "fixtures.drawing_workflows:Nope")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == ("flowkit: module 'fixtures.drawing_workflows' has no attribute 'Nope'\n")
    done = run_cli("draw", SEED, "--format", "png")
    assert done.returncode == 2
    assert "invalid choice: 'png'" in done.stderr


def test_help_lists_draw() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    assert "draw" in done.stdout


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the CLI itself is sync; one run is enough
async def test_draw_a_snapshot_from_the_command_line(tmp_path: Path) -> None:
    handler = HumanInTheLoopWorkflow().run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            (tmp_path / "snap.json").write_text(json.dumps(handler.ctx.to_dict()))
            await handler.cancel_run()
            break
    done = run_cli("draw", SEED, "--snapshot", str(tmp_path / "snap.json"))
    assert done.returncode == 0, done.stderr
    assert "waiting for a human" in done.stdout
