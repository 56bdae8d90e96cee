"""The real-world message corpus beside the checkout (DESIGN §4): where it is and which files are messages.

`../shared/corpus/` relative to the repository root (CI), or two levels up from a git worktree under
`wt/`, or `INTAKE_TEST_CORPUS`. Tests over it skip with a reason where it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# mime4j's expected-result files and the licences/readmes beside the messages are not messages.
_NOT_MESSAGES = {"README.md", "README.txt", "ARTISTIC-LICENSE.txt", ".gitattributes"}


def corpus_dir() -> Path | None:
    candidates = [
        os.environ.get("INTAKE_TEST_CORPUS"),
        ROOT.parent / "shared/corpus",
        ROOT.parents[1] / "shared/corpus",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


SKIP_REASON = "the message corpus is absent (expected at ../shared/corpus beside the checkout, or INTAKE_TEST_CORPUS)"


def corpus_messages() -> list[Path]:
    """Every message file in the corpus, sorted; empty when the corpus is absent."""
    found = corpus_dir()
    if found is None:
        return []
    return sorted(
        path
        for path in found.rglob("*")
        if path.is_file()
        and path.name not in _NOT_MESSAGES
        and not (path.suffix in (".xml", ".bin") or "_decoded" in path.name)
    )
