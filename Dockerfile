# NOT BUILT HERE. This image definition has never been built or run: the machine this project is
# developed and tested on has no Docker engine. Build it, run it and check /readyz before relying on it.
#
#   docker build -t ciam-webapp .
#   docker run --rm -p 127.0.0.1:8000:8000 --env-file app.env ciam-webapp   # behind nginx on this host
#
# Configuration comes from environment variables only (see .env.example and the README's
# "Deploying" section); no .env file, secret or instance data is copied into the image
# (.dockerignore keeps them out).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# A virtualenv, so the runtime stage copies one folder holding the app and its dependencies.
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INSTANCE_DIR=/app/instance
# An unprivileged user with no login shell owns only the instance folder (embedded session store).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/instance \
    && chown app:app /app/instance
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status != 200)"]
# gunicorn gthread, several workers, through our own command (it applies the settings in
# gunicorn_app.py): its restarts and recycling (max_requests) lose no connection, all workers share
# one listening socket. Port 8000 is the app server itself, which must never face clients directly:
# a few connections sending their headers slowly hold all its threads. Publish it only to the
# platform's front end (App Service) or to nginx (deploy/nginx/ciam-webapp.conf), which hold slow
# clients and cut them off. `--server granian` serves with about half the CPU per request, but its
# restart can close a connection a stopping worker has just accepted (README, Deploying); with it and
# 2 or more workers also run the container with `--sysctl net.ipv4.tcp_migrate_req=1` (Linux 5.14+).
CMD ["ciam-webapp", "serve", "--bind", "0.0.0.0:8000", "--workers", "2"]
