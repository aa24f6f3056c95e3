"""flowkit never imports pydantic, and works when importing it is impossible.

The whole suite without pydantic installed runs with ``make test-without-pydantic``; these
two checks run in every ``make test``, in subprocesses so that this process's modules do not
leak in.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PUBLIC_MODULES = (
    "flowkit",
    "flowkit.context",
    "flowkit.context.state_store",
    "flowkit.events",
    "flowkit.resource",
    "flowkit.retry_policy",
    "flowkit.testing",
    "flowkit.testing.runner",
    "flowkit.workflow",
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_flowkit_does_not_import_pydantic() -> None:
    done = run_python(
        f"""
        import importlib, sys
        for name in {PUBLIC_MODULES!r}:
            importlib.import_module(name)
        assert "pydantic" not in sys.modules, "flowkit imported pydantic"
        """
    )
    assert done.returncode == 0, done.stderr


def test_a_workflow_runs_and_snapshots_when_pydantic_cannot_be_imported() -> None:
    done = run_python(
        """
        import json, sys
        sys.modules["pydantic"] = None  # any `import pydantic` now raises ImportError
        import anyio
        from flowkit import Context, Workflow, step
        from flowkit.events import Event, StartEvent, StopEvent

        class Note(Event):
            text: str
            tags: list[str] = []
            _scratch: int = 0

        class Flow(Workflow):
            @step
            async def first(self, ctx: Context, ev: StartEvent) -> Note:
                return Note(text=ev.text)

            @step
            async def second(self, ctx: Context, ev: Note) -> StopEvent:
                await ctx.store.set("note", ev)
                return StopEvent(result=ev.model_dump())

        async def main() -> None:
            workflow = Flow()
            handler = workflow.run(text="hi")
            assert await handler == {"text": "hi", "tags": []}
            data = json.loads(json.dumps(handler.ctx.to_dict()))
            restored = Context.from_dict(workflow, data)
            assert await restored.store.get("note") == Note(text="hi")

        anyio.run(main)
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
