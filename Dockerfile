# syntax=docker/dockerfile:1
# capbroker: the image the Helm chart (charts/capbroker) runs. The entrypoint is the
# `capbroker` CLI; the chart passes the subcommand (serve, gateway serve, migrate, apply).
#
# Base image pinned by tag. Pin it by digest too when you build (the digest of
# python:3.11-slim-bookworm could not be fetched where this file was written; no registry
# was reachable):  FROM python:3.11-slim-bookworm@sha256:<digest>  in both stages.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a wheel of capbroker and wheels of every dependency ------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY broker ./broker
COPY schemas ./schemas
RUN python -m venv /opt/capbroker \
 && /opt/capbroker/bin/pip install --upgrade pip \
 && /opt/capbroker/bin/pip install . \
 && /opt/capbroker/bin/capbroker --version

# --- runtime: the virtualenv only, as an unprivileged user ---------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="capbroker" \
      org.opencontainers.image.description="Scoped capability tokens for AI agents, with a verifying gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/capbroker/capbroker"
ENV PATH=/opt/capbroker/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 capbroker \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin capbroker
COPY --from=build /opt/capbroker /opt/capbroker
# The chart mounts a read-only root filesystem with a writable /tmp.
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["capbroker"]
CMD ["--help"]
