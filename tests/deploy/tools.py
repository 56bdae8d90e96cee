"""Where the deploy tests find their validators: .tools/ (deploy/local/validation-tools.sh), promtool, kubectl.

A missing validator skips its test with the command that installs it, except under CI, where it fails:
`make test` installs them first, so a missing one there is a broken setup, not a reason to pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
INSTALL = "deploy/local/validation-tools.sh"


def missing(what: str, hint: str) -> None:
    message = f"{what} is not installed ({hint})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def tool(relative: str) -> Path:
    """A validator installed under .tools/, e.g. `checkov/bin/checkov`."""
    path = TOOLS / relative
    if not path.exists():
        missing(relative, f"run {INSTALL}")
    return path


def system_command(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(name, f"apt-get install {package}, or run deploy/local/system-deps.sh")
    assert found is not None
    return found


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a validator; its output is returned for the assertion message."""
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )
