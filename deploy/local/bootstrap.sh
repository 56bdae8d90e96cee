#!/usr/bin/env bash
# Makes the Python side ready on a fresh machine: uv (from PyPI when missing) and the workspace
# virtualenv .venv/ exactly as uv.lock pins it. Safe to run again; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/../.."
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"

if command -v uv >/dev/null 2>&1; then
  uv=(uv)
elif python3 -m uv --version >/dev/null 2>&1; then
  uv=(python3 -m uv)
else
  echo "bootstrap: installing uv from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv || python3 -m pip install --quiet --user uv
  uv=(python3 -m uv)
fi
"${uv[@]}" sync --frozen --quiet
# The project's own sources are installed editable, so uv's compile-bytecode (pyproject.toml) leaves
# them out; compile them here (only what changed since the last run). Python checks each file's
# timestamp, so a stale .pyc is never used.
.venv/bin/python -m compileall -q -j 0 shared/src services/fetcher/src services/ingestor/src services/config-api/src >/dev/null
