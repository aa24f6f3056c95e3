"""What machine and which package versions a run was measured on."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

PACKAGES = ("flowkit", "llama-index-workflows", "anyio", "trio", "pydantic", "attrs", "cattrs")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    if versions["flowkit"] == "not installed" and importlib.util.find_spec("flowkit"):
        versions["flowkit"] = f"source tree {_git_commit()}".strip()
    return versions


def _git_commit() -> str:
    """The checkout's short commit, with ``+changes`` when the tree differs from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "flowkit"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"@ {commit}{' +changes' if dirty else ''}"


def machine_info() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "packages": package_versions(),
    }


def describe(info: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    return f"{info['nproc']} CPUs ({info['cpu']}), {info['python']}, {info['platform']}; {packages}"
