# syntax=docker/dockerfile:1
# Table Order API image (SPEC section 7): a builder stage makes /opt/venv, the runtime stage copies
# only that venv plus what `alembic upgrade head` reads at run time (alembic.ini, migrations/).
#
#   docker build -t tableorder:latest .
#   docker run --env-file .env.production -p 8000:8000 tableorder:latest
#   docker run --env-file .env.production tableorder:latest alembic upgrade head

# Both stages must use the same interpreter: the venv's python is a symlink to /usr/local/bin/python3.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# Every dependency (asyncpg, argon2-cffi, psycopg[binary], uvloop, httptools, msgspec) ships a
# manylinux wheel for CPython 3.11, so no compiler is installed; should one ever be needed it goes
# here, in the builder, and never reaches the runtime image.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
# pyproject.toml names README.md as the package readme, so the build needs it.
COPY pyproject.toml README.md constraints.txt ./
COPY src/ src/
# A regular (non-editable) install: the runtime image has no source tree.
RUN pip install --no-cache-dir -c constraints.txt . \
    && python -c "import tableorder.app"


FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    ENVIRONMENT=production

# A fixed, unprivileged uid/gid so volume permissions and pod security policies can name it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

# `tableorder migrate` and `alembic upgrade head` look for alembic.ini in the working directory.
WORKDIR /app
COPY alembic.ini ./
COPY migrations/ migrations/

# Numeric, so `runAsNonRoot`-style checks can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# Liveness only (no database): /health. The slim image has no curl; the venv's python does the job.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

# Migrations are not run here: two replicas starting together would race. ops/deploy.sh runs
# `alembic upgrade head` once, in a one-off container, before rolling out.
# X-Forwarded-For names the client (whom login attempts are counted against) only when the peer is
# in FORWARDED_ALLOW_IPS, which uvicorn reads from the environment (no flag here, so the variable
# counts): loopback by default, so the image run on its own trusts no one's header; compose.prod.yaml
# sets it for its nginx.
CMD ["uvicorn", "--factory", "tableorder.app:create_app", \
     "--host", "0.0.0.0", "--port", "8000", "--workers", "4", \
     "--proxy-headers", "--timeout-graceful-shutdown", "10"]
