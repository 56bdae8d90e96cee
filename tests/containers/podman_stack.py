"""Intake's docker-compose.yml run with podman-compose under a project name of its own, for the containers tier.

Owns the podman and podman-compose command lines: images built by the project's scripts, the stack up
and torn down (`down -v`, then its network), commands run inside a service's container, its state read
back. Every command's output is kept, so a failure shows what podman said.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
SERVICES = ("config-api", "fetcher", "ingestor")


def podman_problem() -> str | None:
    """Why this machine cannot build and run the images with podman, or None when it can."""
    for tool in ("podman", "podman-compose", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (deploy/containers/podman-setup.sh installs it)"
    if os.geteuid() != 0:
        return "needs root: debootstrap builds the base image and the stack runs on rootful podman"
    try:
        info = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "podman info did not answer within 60 s"
    if info.returncode != 0:
        return f"podman cannot run here: {info.stderr.strip()[-500:]}"
    return None


@dataclass
class Transcript:
    """Every command run and what it printed, for failure messages."""

    lines: list[str] = field(default_factory=list)

    def run(
        self,
        *command: str,
        timeout: float,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        self.lines.append(
            f"$ {' '.join(command)}  -> {result.returncode}\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{self.tail()}")
        return result

    def tail(self, characters: int = 12000) -> str:
        return "\n".join(self.lines)[-characters:]


def build_images(transcript: Transcript) -> None:
    """The base images (kept when present) and the three service images, as a developer builds them."""
    transcript.run(str(REPOSITORY / "deploy/containers/build-images.sh"), timeout=1800)


@dataclass
class ComposeStack:
    """One running copy of docker-compose.yml: project `project`, host ports chosen by the caller."""

    project: str
    workdir: Path
    env: dict[str, str]
    transcript: Transcript

    @classmethod
    def prepare(cls, project: str, workdir: Path, settings: dict[str, str], transcript: Transcript) -> ComposeStack:
        # podman-compose 1.0.3 lets a .env beside the compose file override the environment (docker compose
        # does the opposite), so a developer's .env would replace this run's secrets and ports: the file is
        # run from a folder of its own, where ./deploy (the mounted Dovecot configuration) is the repository's.
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPOSITORY / "docker-compose.yml", workdir / "docker-compose.yml")
        (workdir / "deploy").symlink_to(REPOSITORY / "deploy")
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")} | settings
        return cls(project, workdir, env, transcript)

    def compose(self, *arguments: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.transcript.run(
            "podman-compose",
            "-f",
            "docker-compose.yml",
            "-p",
            self.project,
            *arguments,
            cwd=self.workdir,
            env=self.env,
            timeout=timeout,
            check=check,
        )

    def up(self) -> None:
        self.compose("up", "-d", "--no-build")

    def down(self) -> None:
        """Containers and volumes (`down -v`), then the project's network, which podman-compose 1.0.3 leaves."""
        self.compose("down", "-v", timeout=300, check=False)
        network = f"{self.project}_default"
        if self.transcript.run("podman", "network", "exists", network, timeout=60, check=False).returncode == 0:
            self.transcript.run("podman", "network", "rm", "-f", network, timeout=60, check=False)

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def inspect(self, service: str) -> dict[str, Any]:
        result = self.transcript.run("podman", "inspect", self.container(service), timeout=60)
        document: list[dict[str, Any]] = json.loads(result.stdout)
        return document[0]

    def exec(self, service: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.transcript.run("podman", "exec", self.container(service), *command, timeout=60, check=check)

    def logs(self, service: str) -> str:
        result = self.transcript.run("podman", "logs", self.container(service), timeout=60, check=False)
        return (result.stdout + result.stderr)[-6000:]

    def all_logs(self) -> str:
        return "\n".join(f"--- {service} ---\n{self.logs(service)}" for service in SERVICES)
