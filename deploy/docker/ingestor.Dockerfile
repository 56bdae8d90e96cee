# intake-ingestor image, built from the repository root: docker build -f deploy/docker/ingestor.Dockerfile .
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The lock file and every member's metadata first, so the dependency layer is cached across code changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml
COPY services/fetcher/pyproject.toml services/fetcher/pyproject.toml
COPY services/ingestor/pyproject.toml services/ingestor/pyproject.toml
COPY services/config-api/pyproject.toml services/config-api/pyproject.toml
RUN uv sync --frozen --no-dev --no-install-workspace --package intake-ingestor
COPY shared shared
COPY services services
RUN uv sync --frozen --no-dev --no-editable --package intake-ingestor

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home intake
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
USER intake
STOPSIGNAL SIGTERM
CMD ["intake-ingestor"]
