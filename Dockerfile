# syntax=docker/dockerfile:1
# config-sync image: gunicorn managing uvicorn workers, serving config_sync_service.main:app on port 8000.
#   docker buildx build --platform linux/amd64 --build-arg VERSION=0.1.0 -t REGISTRY/config-sync:0.1.0 .
#
# Base image: the issue asked for python:3.11-slim, but config-sync is Python 3.12 only (pyproject
# `requires-python = ">=3.12,<3.13"`, poetry.lock is resolved for 3.12, and a venv built on 3.12 cannot run
# on 3.11), so both stages use python:3.12-slim. Both stages must share the base: the venv's interpreter
# is a symlink to the base image's /usr/local/bin/python3.12.
#
# The base is pinned by digest (a tag moves; a digest is the bytes), the digest of the tag's multi-arch index, so
# amd64 and arm64 builds each get their own image from it: python:3.12-slim = 3.12.15-slim-trixie as published in
# October 2026. Docker Hub is not reachable where this was written; the digest is the one public Dockerfiles and
# lockfiles pinned for python:3.12-slim / 3.12.15-slim from early October 2026 on (Dependabot-managed pins among
# them). Refresh it on purpose, in both FROM lines, with what the registry says now:
#   docker buildx imagetools inspect python:3.12-slim --format '{{json .Manifest.Digest}}'

# ---- builder: the locked runtime dependencies and the package, into /app/.venv ------------------------------
FROM python:3.12-slim@sha256:05cda9777409a9c3ffddd94a4c476b79f0769a0b4857f0c7ed9226b6800b0d6f AS builder

ARG POETRY_VERSION=2.5.1
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    POETRY_NO_INTERACTION=1 \
    POETRY_VIRTUALENVS_IN_PROJECT=1 \
    POETRY_VIRTUALENVS_CREATE=1 \
    POETRY_CACHE_DIR=/tmp/poetry-cache

# Poetry lives in its own venv and never reaches the runtime stage.
RUN python -m venv /opt/poetry && /opt/poetry/bin/pip install "poetry==${POETRY_VERSION}"

WORKDIR /app
# Dependencies first (only main: no dev or bot groups), so this layer is cached until the lockfile changes.
COPY pyproject.toml poetry.lock README.md ./
RUN /opt/poetry/bin/poetry install --only main --no-root --no-directory --compile \
    && rm -rf /tmp/poetry-cache

# Then the packages themselves (the daemon and agent_schema, the configuration schema it shares with the bot
# image), as a wheel (a real install, not an editable link into /app), and a smoke test: the whole app and the
# schema import with the main dependencies alone (-I: from the venv, not from the source tree).
COPY config_sync_service ./config_sync_service
COPY agent_schema ./agent_schema
RUN /opt/poetry/bin/poetry build --format wheel --output /tmp/dist \
    && python -m pip --python /app/.venv/bin/python install --no-deps --compile /tmp/dist/*.whl \
    && /app/.venv/bin/python -I -c "import config_sync_service.main, agent_schema"

# ---- runtime: the venv and the gunicorn config; no Poetry, no compilers, non-root --------------------------
FROM python:3.12-slim@sha256:05cda9777409a9c3ffddd94a4c476b79f0769a0b4857f0c7ed9226b6800b0d6f AS runtime

ARG VERSION=0.1.0
ARG SOURCE=https://github.com/your-org/config-sync
ARG REVISION=unknown
LABEL org.opencontainers.image.title="config-sync" \
      org.opencontainers.image.description="Keeps voice agents on Pipecat Cloud in step with Postgres" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# The code stays owned by root: the app user can read it, not change it (the pod also mounts / read-only).
# PROMETHEUS_MULTIPROC_DIR is under /tmp, the only writable path in Kubernetes (an emptyDir).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY gunicorn.conf.py ./

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=3)"]

# Exec form: gunicorn is PID 1 and receives SIGTERM itself; it stops its workers gracefully
# (graceful_timeout in gunicorn.conf.py is SHUTDOWN_GRACE_S plus a margin) and reaps them.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "gunicorn.conf.py", "config_sync_service.main:app"]
