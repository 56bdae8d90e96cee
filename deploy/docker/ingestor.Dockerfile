# intake-ingestor image, built from the repository root (podman needs --format docker to keep the HEALTHCHECK):
#   docker build -f deploy/docker/ingestor.Dockerfile -t intake-ingestor .
# Where no registry is reachable, deploy/containers/build-base-images.sh builds PYTHON_BASE from Debian.
ARG PYTHON_BASE=python:3.11-slim

FROM ${PYTHON_BASE} AS build
# uv from PyPI, pinned; the build stage trusts the base image's CA store (pip and uv bring their own
# otherwise), so a CA added to the base reaches PyPI. The first steps are the same in all three
# Dockerfiles, so the three builds share these layers and the cache of downloaded wheels.
ARG UV_VERSION=0.13.9
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG UV_DEFAULT_INDEX=https://pypi.org/simple
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 UV_SYSTEM_CERTS=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir --quiet "uv==${UV_VERSION}"
WORKDIR /src
# The lock file and every member's metadata first: the dependency layer is rebuilt only when they change.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml
COPY services/fetcher/pyproject.toml services/fetcher/pyproject.toml
COPY services/ingestor/pyproject.toml services/ingestor/pyproject.toml
COPY services/config-api/pyproject.toml services/config-api/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-workspace --package intake-ingestor
COPY shared shared
COPY services/ingestor services/ingestor
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package intake-ingestor
# Marks this stage's result, so build-images.sh can drop the one a new build replaced.
LABEL io.intake.build-stage=ingestor

FROM ${PYTHON_BASE}
RUN groupadd --gid 10001 intake && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin intake
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 INTAKE_INGESTOR_HTTP_HOST=0.0.0.0
# Numeric, so a platform can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 8082
# Liveness: /healthz answers while the process and its loop are alive (never on PostgreSQL or RabbitMQ).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('INTAKE_INGESTOR_HTTP_PORT', '8082') + '/healthz', timeout=4)"]
# The service stops cleanly on SIGTERM: in-flight work finishes, connections close, the exit status is 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/.venv/bin/intake-ingestor"]
