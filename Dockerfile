# Switchboard gateway image: `docker build -t switchboard .` (see README, "Docker and Compose").
# The base is a build argument so a locally made image can stand in for python:3.12-slim
# (any Debian-based image with python3 and its venv module will do).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
# A package index of your own (a mirror, a proxy) comes in as a build secret holding a pip.conf,
# never written into the image: --secret id=pip.conf,src=/etc/pip.conf
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf,required=false \
    python3 -m venv /opt/switchboard \
    && /opt/switchboard/bin/pip install . \
    && /opt/switchboard/bin/switchboard --version

FROM ${BASE_IMAGE}
# Unprivileged: the gateway never needs root. /data holds the SQLite database (when
# DATABASE_URL is not PostgreSQL) and is the volume to keep.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin switchboard \
    && mkdir -p /data && chown switchboard:switchboard /data
COPY --from=build /opt/switchboard /opt/switchboard
ENV PATH=/opt/switchboard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SWITCHBOARD_DATA_DIR=/data \
    SWITCHBOARD_HOST=0.0.0.0 \
    SWITCHBOARD_PORT=8080 \
    SWITCHBOARD_AUTO_MIGRATE=true \
    LOG_FORMAT=json
# SWITCHBOARD_AUTO_MIGRATE: `serve` applies pending migrations before it listens, on
# PostgreSQL too (one node at a time, under an advisory lock).
WORKDIR /data
VOLUME ["/data"]
USER switchboard
EXPOSE 8080
# Liveness from inside the container (no curl in a slim image): /healthz on the port served.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SWITCHBOARD_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["switchboard"]
CMD ["serve"]
