"""Writes one benchmark's results into docs/benchmarks.md, between its own markers, with the machine and command.

Each benchmark owns one section, `<!-- bench:NAME -->` … `<!-- /bench:NAME -->`; re-running a
benchmark replaces only its own section, so results of different benchmarks never overwrite each other.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Written by `make bench` (all) or `make bench BENCH=<name>` (one); each section says the machine,
the command and when it ran. Targets come from the issues; a number is only compared with its target
when the machine was otherwise idle.
"""


def machine() -> str:
    """One line describing the machine: CPU model, cores, memory, OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def write_section(name: str, title: str, command: str, body: str) -> None:
    """Replace (or append) the section of benchmark `name` in docs/benchmarks.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"- Machine: {machine()}\n- Command: `{command}`\n- Run: {stamp}\n\n{body.strip()}\n"
        f"<!-- /bench:{name} -->\n"
    )
    text = REPORT.read_text() if REPORT.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->\n.*?<!-- /bench:{re.escape(name)} -->\n", re.S)
    found = pattern.search(text)
    text = pattern.sub(lambda _: section, text) if found else text.rstrip("\n") + "\n\n" + section
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(text)
    print(section, file=sys.stdout)
