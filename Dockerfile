# The identity server's image: `identity serve` as uid 10001, nothing written outside /tmp.
# Build from the repository root: docker build -t identity-platform:0.1.0 .
# Both stages must use the same base: the venv's python is a symlink to the base image's interpreter.
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the project and its runtime dependencies, at the locked versions, in one venv ---
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/identity
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY identity ./identity
COPY tenants ./tenants
# The same pip calls as scripts/bootstrap.sh (the lock as constraints), without --editable: the wheel is
# built and installed into the venv, so the runtime stage needs nothing from /src.
RUN /opt/identity/bin/python -m pip install --quiet --upgrade -c requirements.lock pip \
 && /opt/identity/bin/python -m pip install --quiet -c requirements.lock .

# --- runtime: the venv only ---
FROM ${PYTHON_IMAGE}
# Bytecode was compiled by pip in the builder; the root filesystem is read-only at run time.
ENV PATH=/opt/identity/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    IDENTITY_ENV=prod
RUN groupadd --system --gid 10001 identity \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin identity
COPY --from=builder /opt/identity /opt/identity
# Root-owned and not writable by the server: a forgotten IDENTITY_DATABASE_URL fails loudly instead of
# writing a SQLite file that a restart would lose.
WORKDIR /opt/identity
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
# 8000: OpenID Connect, hosted pages, APIs. 9464: Prometheus /metrics (management port, never on the Ingress).
EXPOSE 8000 9464
# slim has no curl: the standard library asks /healthz (process alive, no database call).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["identity"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
