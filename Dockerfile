# syntax=docker/dockerfile:1
# capbroker: the image the Helm chart (charts/capbroker) runs. The entrypoint is the
# `capbroker` CLI; the chart passes the subcommand (serve, gateway serve, migrate, apply).
# Build it with `make image` (docker or buildah; docs/deploy.md, "The image").
#
# Reproducible: every runtime dependency is installed from requirements.lock, pinned with
# hashes (pip --require-hashes refuses anything else), and capbroker itself without its
# dependencies. The runtime stage holds the virtualenv and the interpreter only: no pip,
# setuptools or wheel, no test tools (the lock has runtime dependencies only).
#
# Base image pinned by tag. Pin it by digest too when you build (the digest of
# python:3.11-slim-bookworm could not be fetched where this file was written; no registry
# was reachable):  make image PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the locked dependencies and a wheel of capbroker, into /opt/capbroker ----------
FROM ${PYTHON_IMAGE} AS build
# Set only for an offline build from a wheelhouse (make image WHEELHOUSE=build/wheels).
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements.lock ./
# A virtualenv without pip: the build stage's pip installs into it (pip --python).
RUN python -m venv --without-pip /opt/capbroker \
 && python -m pip --python /opt/capbroker/bin/python install --require-hashes --no-deps \
      -r requirements.lock
COPY pyproject.toml README.md ./
COPY broker ./broker
COPY schemas ./schemas
# The base image's setuptools builds the wheel (no build isolation: nothing is fetched).
RUN python -m pip wheel --no-deps --no-build-isolation -w /tmp/dist . \
 && python -m pip --python /opt/capbroker/bin/python install --no-deps /tmp/dist/capbroker-*.whl \
 && /opt/capbroker/bin/capbroker --version \
 && test ! -e /opt/capbroker/lib/python3.11/site-packages/pip

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
# No installer or build tools at run time: the base image's pip, setuptools and wheel go
# (where the official image keeps them, and where Debian's python3 packages do).
RUN for d in /usr/local/lib/python3.11/site-packages /usr/lib/python3/dist-packages; do \
      rm -rf "$d"/pip "$d"/pip-* "$d"/setuptools "$d"/setuptools-* "$d"/wheel "$d"/wheel-* \
             "$d"/_distutils_hack "$d"/pkg_resources "$d"/distutils-precedence.pth; \
    done \
 && rm -rf /usr/local/lib/python3.11/ensurepip /usr/lib/python3.11/ensurepip \
           /usr/local/bin/pip* /usr/bin/pip* \
 && ! python -c "import pip" 2>/dev/null \
 && groupadd --system --gid 10001 capbroker \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin capbroker
COPY --from=build /opt/capbroker /opt/capbroker
# The chart mounts a read-only root filesystem with a writable /tmp.
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["capbroker"]
CMD ["--help"]
