"""Where a service process's time goes: run it under pyinstrument, then sort the samples into stages.

`wrapper(path)` is the argv prefix that runs a service script under pyinstrument, saving its session
to `path` when the process ends (SIGTERM ends the services normally). `stages(path)` reads the
session and gives the seconds spent in each stage: each sample goes to the innermost frame on its
stack that names a stage (`STAGES`, first match per frame), so HTML-to-text inside parsing counts as
HTML to text, and SQL inside storing attachments as SQL. Samples with no stage on their stack are
the event loop waiting ("idle") or everything else ("other").
pyinstrument samples the main thread's wall clock; the bench turns shares of busy time into CPU ms
per message with the process's CPU time from /proc.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyinstrument.frame import Frame
from pyinstrument.session import Session

PYINSTRUMENT = Path(sys.executable).parent / "pyinstrument"
INTERVAL_SECONDS = 0.0005

# (stage, predicate on a frame's file path and function name); the first matching entry names a frame.
STAGES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("HTML to text", ("intake/ingestor/html_text.py",), ()),
    ("attachment decode", ("intake/ingestor/mime_parts.py",), ("_attachment",)),
    ("attachment hash + store", ("intake/shared/blobs.py",), ()),
    (
        "SQL (asyncpg, our statements)",
        (
            "asyncpg/",
            "intake/ingestor/repository.py",
            "intake/ingestor/tracker_rows.py",
            "intake/ingestor/postgres_store.py",
            "repository.py",
        ),
        (),
    ),
    (
        "parse (email, headers, bodies)",
        (
            "intake/ingestor/parsing.py",
            "intake/ingestor/message_headers.py",
            "intake/ingestor/mime_parts.py",
            "intake/ingestor/plain_headers.py",
        ),
        (),
    ),
    ("email log (config-api's consumer)", ("intake/config_api/email_log",), ()),
    ("publishes, deliveries, acks (AMQP)", ("aiormq/", "aio_pika/", "pamqp/", "intake/shared/bus.py"), ()),
    ("logging (structlog)", ("structlog/", "logging/"), ()),
    ("metrics (prometheus_client)", ("prometheus_client/",), ()),
    ("decode/encode events (pydantic, json)", ("pydantic/", "pydantic_core/", "json/"), ()),
    ("IMAP (aioimaplib)", ("aioimaplib",), ()),
    ("ingestor's own code (decide, batches, handler)", ("intake/ingestor/",), ()),
    ("fetcher's own code", ("intake/fetcher/",), ()),
    ("config-api's own code", ("intake/config_api/",), ()),
    ("shared code (batch consumer, acks, database)", ("intake/shared/",), ()),
    ("asyncio scheduling", ("asyncio/", "uvloop/"), ()),
]
_IDLE_FUNCTIONS = {"select", "poll", "run_forever", "run_until_complete", "_run_once"}


def wrapper(path: Path) -> tuple[str, ...]:
    """argv before a service's script: run it under pyinstrument, session saved to `path`."""
    return (str(PYINSTRUMENT), "-i", str(INTERVAL_SECONDS), "-r", "pyisession", "-o", str(path))


def _stage(frame: Frame) -> str | None:
    path = (frame.file_path or "").replace("\\", "/")
    for stage, paths, functions in STAGES:
        if any(part in path for part in paths) and (not functions or frame.function in functions):
            return stage
    return None


def _waiting(frame: Frame) -> bool:
    """Whether a sample in `frame` itself is the event loop waiting: asyncio's select, or uvloop's
    loop (C code: its samples land in the Python frame that started it, asyncio's Runner.run)."""
    path = (frame.file_path or "").replace("\\", "/")
    return frame.function in _IDLE_FUNCTIONS or (frame.function == "run" and path.endswith("asyncio/runners.py"))


def stages(path: Path) -> dict[str, float]:
    """Seconds per stage in the saved session at `path`, plus "idle" (the event loop waiting for I/O:
    a sample whose own frame is the loop's run or select call) and "other"."""
    root = Session.load(str(path)).root_frame()
    totals: dict[str, float] = {}

    def walk(frame: Frame, current: str | None) -> None:
        stage = _stage(frame) or current
        for child in frame.children:
            if child.is_synthetic_leaf:
                name = "idle" if _waiting(frame) else stage or "other"
                totals[name] = totals.get(name, 0.0) + child.total_self_time
            else:
                walk(child, stage)

    if root is not None:
        walk(root, None)
    return totals
