"""`intake-ingestor` as a real process: starts, stops cleanly on SIGTERM, and refuses a bad setting in one line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tests.integration.ingestor.conftest import WAIT_SECONDS

COMMAND = str(Path(sys.executable).parent / "intake-ingestor")


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(values)
    return env


async def read_until(stream: asyncio.StreamReader, message: str) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    while True:
        line = await stream.readline()
        assert line, f"the process ended before logging {message!r}: {lines}"
        record = json.loads(line)
        lines.append(record)
        if record.get("message") == message:
            return lines


async def test_runs_until_sigterm_and_exits_zero(database_url: str, amqp_url: str) -> None:
    process = await asyncio.create_subprocess_exec(
        COMMAND,
        env=environment(INTAKE_DATABASE_URL=database_url, INTAKE_AMQP_URL=amqp_url, INTAKE_LOG_LEVEL="info"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        started = await asyncio.wait_for(read_until(process.stdout, "ingestor started"), WAIT_SECONDS)
        assert all(record["service"] == "ingestor" for record in started)
        assert not any("guest:guest" in json.dumps(record) for record in started)

        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(read_until(process.stdout, "ingestor stopped"), WAIT_SECONDS)
        assert await asyncio.wait_for(process.wait(), WAIT_SECONDS) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_invalid_setting_exits_with_one_line() -> None:
    process = await asyncio.create_subprocess_exec(
        COMMAND,
        env=environment(INTAKE_INGESTOR_PREFETCH="many"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT_SECONDS)

    assert process.returncode == 1
    assert stdout == b""
    assert stderr.decode().startswith("intake-ingestor: INTAKE_INGESTOR_PREFETCH is invalid:")
    assert stderr.decode().count("\n") == 1
