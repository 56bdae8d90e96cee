"""Running Intake's services as real processes for end-to-end tests, and waiting on conditions.

Each service runs its console script from the virtualenv with an explicit environment; its output
goes to a file under the test's tmp folder, shown in the failure message when a wait times out.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    """One service process: start, stop with SIGTERM (or SIGKILL), read its log."""

    name: str
    env: dict[str, str]
    log_path: Path
    # A command to run the service under, e.g. a profiler (`bench/profiles.py`): argv before the script.
    wrapper: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    # The port of the fetcher's or ingestor's probe listener (/healthz, /readyz, /metrics); config-api
    # serves them on INTAKE_API_PORT.
    http_port: int | None = field(default=None, init=False)

    @property
    def http_url(self) -> str:
        """Where this process serves /healthz, /readyz and /metrics."""
        port = self.env["INTAKE_API_PORT"] if self.name == "config-api" else self.http_port
        return f"http://127.0.0.1:{port}"

    def start(self) -> ServiceProcess:
        env = self.env
        if self.name in ("fetcher", "ingestor"):
            # A free port of its own unless the caller chose one: tests run several fetchers at once, and
            # other test runs share the machine.
            variable = f"INTAKE_{self.name.upper()}_HTTP_PORT"
            if self.http_port is None:
                self.http_port = int(env[variable]) if variable in env else free_port()
            env = {**env, variable: str(self.http_port)}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.wrapper, str(BIN / f"intake-{self.name}")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit status (a kill after `timeout` fails the caller's check)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def started_count(self) -> int:
        """How many times this service logged that it started (its log file spans restarts)."""
        return self.log().count(f'"message": "{self.name.replace("-", " ")} started"')

    def restart_and_wait(self, timeout: float = 60.0) -> None:
        """Start again and wait until the new process has logged that it started."""
        before = self.started_count()
        self.start()
        wait_until(
            lambda: self.started_count() > before, timeout=timeout, what=f"{self.name} to start", explain=self.log
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    """The three services sharing one environment (database, vhost, secrets)."""

    env: dict[str, str]
    tmp: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    wrappers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def service(self, name: str) -> ServiceProcess:
        if name not in self.services:
            self.services[name] = ServiceProcess(
                name, self.env, self.tmp / f"{name}.log", wrapper=self.wrappers.get(name, ())
            )
        return self.services[name]

    def start(self, *names: str) -> None:
        for name in names:
            self.service(name).start()

    @property
    def service_token(self) -> str:
        """INTAKE_SERVICE_TOKEN of this stack: what the fetcher presents to config-api's internal endpoint."""
        return self.env["INTAKE_SERVICE_TOKEN"]

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{svc.log()[-6000:]}" for name, svc in self.services.items())

    def stop_all(self) -> dict[str, int]:
        return {name: svc.stop() for name, svc in self.services.items() if svc.process is not None}


def make_env(**intake: str) -> dict[str, str]:
    """The test process's environment without any INTAKE_ variable, plus the given ones.

    INTAKE_SERVICE_TOKEN (shared by config-api and the fetcher) is generated unless given.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env["INTAKE_SERVICE_TOKEN"] = secrets.token_urlsafe(32)
    env.update({f"INTAKE_{k.upper()}": v for k, v in intake.items()})
    return env


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, explain: Callable[[], str] = lambda: ""
) -> T:
    """Call `probe` until it returns something truthy; fail with `what` and `explain()` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value {last!r}\n{explain()}")
