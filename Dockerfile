# syntax=docker/dockerfile:1
# QueueIT server image: `docker build -t queueit .` (see docs/DEPLOY.md).
# Two stages: the build stage makes a virtualenv from the lock file; the runtime stage copies
# only that virtualenv onto a slim Python and runs as an unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/queueit
ENV PATH=/opt/queueit/bin:$PATH
WORKDIR /build

# Dependencies first (a layer that changes only with the lock). requirements.lock pins the
# test tools too; the image takes only the runtime dependencies named in pyproject.toml, at
# the versions the lock pins, and fails the build if anything installed is not pinned there.
COPY requirements.lock pyproject.toml ./
RUN python - <<'PY' > runtime.txt
import tomllib
for requirement in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    print(requirement)
PY
RUN pip install --upgrade pip \
 && pip install --constraint requirements.lock --requirement runtime.txt \
 && python - <<'PY'
import re
from importlib.metadata import distributions

def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

pins = {}
for line in open("requirements.lock"):
    if "==" in line:
        name, version = line.strip().split("==", 1)
        pins[norm(name)] = version
tooling = {"pip", "setuptools", "wheel"}
unpinned = [
    f"{d.metadata['Name']}=={d.version}"
    for d in distributions()
    if norm(d.metadata["Name"]) not in tooling and pins.get(norm(d.metadata["Name"])) != d.version
]
if unpinned:
    raise SystemExit(f"not pinned by requirements.lock: {', '.join(sorted(unpinned))}")
PY

# Then the package itself, without resolving anything again.
COPY README.md ./
COPY src ./src
RUN pip install --no-deps . \
 && pip check \
 && pip uninstall --yes pip setuptools wheel


FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/queueit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/var/lib/queueit
RUN groupadd --system --gid 10001 queueit \
 && useradd --system --uid 10001 --gid queueit --home-dir /var/lib/queueit --shell /usr/sbin/nologin queueit \
 && install -d -o queueit -g queueit -m 0750 /var/lib/queueit
COPY --from=build /opt/queueit /opt/queueit
USER queueit:queueit
WORKDIR /var/lib/queueit
EXPOSE 8000

# Liveness only (no I/O): orchestrators should use GET /readyz for readiness.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=2)"]

# One worker per container (scale with replicas): metrics stay per process and exact.
# SIGTERM drains in-flight requests (up to 10 s), closes WebSockets with 1001, then exits;
# give the container a stop grace period above that (compose: stop_grace_period: 20s).
STOPSIGNAL SIGTERM
CMD ["queueit", "serve"]
