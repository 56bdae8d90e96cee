#!/usr/bin/env bash
# Builds Intake's three service images with podman, tagged as docker-compose.yml names them
# (intake-<service>:${INTAKE_IMAGE_TAG:-latest}), after the local base images (build-base-images.sh,
# kept when they exist). The three builds run one after another so they share their common layers and
# the cache of downloaded wheels. The host's package index settings, when it has any that a build can
# reach (http or https), are passed on as build arguments.
# Usage: deploy/containers/build-images.sh [--rebuild-base]
set -euo pipefail
cd "$(dirname "$0")/../.."

base_args=()
for argument in "$@"; do
  case "$argument" in
    --rebuild-base) base_args+=(--rebuild) ;;
    *) echo "usage: $0 [--rebuild-base]" >&2; exit 2 ;;
  esac
done
deploy/containers/build-base-images.sh "${base_args[@]}"

index_args=()
pip_index=${PIP_INDEX_URL:-$(pip3 config get global.index-url 2>/dev/null || true)}
uv_index=${UV_DEFAULT_INDEX:-${UV_INDEX_URL:-}}
[[ $pip_index == http://* || $pip_index == https://* ]] && index_args+=(--build-arg "PIP_INDEX_URL=$pip_index")
[[ $uv_index == http://* || $uv_index == https://* ]] && index_args+=(--build-arg "UV_DEFAULT_INDEX=$uv_index")

tag=${INTAKE_IMAGE_TAG:-latest}
for service in config-api fetcher ingestor; do
  image="localhost/intake-$service:$tag"
  previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  echo "build-images: $image"
  # --format docker: the OCI format has no HEALTHCHECK, podman would drop it.
  podman build --quiet --format docker --layers "${index_args[@]}" -t "$image" \
    -f "deploy/docker/$service.Dockerfile" . >/dev/null
  # The image this one replaces, now untagged, is of no further use (its layers still cache the next build).
  current=$(podman image inspect --format '{{.Id}}' "$image")
  if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
  # Likewise the build stages of earlier builds: only the newest (this build's) is kept.
  podman images --filter "label=io.intake.build-stage=$service" --sort created --format '{{.ID}}' |
    tail -n +2 | xargs -r podman rmi >/dev/null 2>&1 || true
done
