#!/usr/bin/env bash
# Installs the validators the deploy tests run (tests/deploy/), each pinned, into the git-ignored
# folder .tools/ of this checkout, from PyPI and the npm registry only:
#   .tools/checkov/          checkov in a virtualenv of its own: its many pinned dependencies conflict
#                            with the project's, so it stays out of uv.lock and runs as a separate tool;
#   .tools/validators/       kubernetes-validate (Kubernetes schemas shipped in the package, offline)
#                            and check-jsonschema, likewise outside the project's lock;
#   .tools/npm/              @asyncapi/specs, whose AsyncAPI 3.0 JSON schema checks docs/asyncapi.yaml.
# Idempotent: a tool already at its pinned version is left alone. Nothing here is committed.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHECKOV_VERSION=3.3.30
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
ASYNCAPI_SPECS_VERSION=6.11.1

TOOLS=.tools
UV=$(command -v uv 2>/dev/null || echo "python3 -m uv")
export UV_PYTHON_DOWNLOADS=never

venv_with() {  # venv_with DIR MARKER REQUIREMENT...
  local dir=$1 marker=$2
  shift 2
  if [ -f "$dir/$marker" ]; then return; fi
  echo "validation-tools: installing $* into $dir"
  rm -rf "$dir"
  $UV venv --quiet --python python3 "$dir"
  $UV pip install --quiet --python "$dir/bin/python" "$@"
  touch "$dir/$marker"
}

venv_with "$TOOLS/checkov" ".installed-$CHECKOV_VERSION" "checkov==$CHECKOV_VERSION"
venv_with "$TOOLS/validators" ".installed-$KUBERNETES_VALIDATE_VERSION-$CHECK_JSONSCHEMA_VERSION" \
  "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"

if command -v npm >/dev/null 2>&1; then
  if [ ! -f "$TOOLS/npm/.installed-$ASYNCAPI_SPECS_VERSION" ]; then
    echo "validation-tools: installing @asyncapi/specs@$ASYNCAPI_SPECS_VERSION into $TOOLS/npm"
    rm -rf "$TOOLS/npm"
    mkdir -p "$TOOLS/npm"
    npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$TOOLS/npm" \
      "@asyncapi/specs@$ASYNCAPI_SPECS_VERSION" >/dev/null
    touch "$TOOLS/npm/.installed-$ASYNCAPI_SPECS_VERSION"
  fi
else
  echo "validation-tools: npm not found; the AsyncAPI schema check will fail until Node.js and npm are installed"
fi
