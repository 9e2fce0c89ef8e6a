# eon-bot as a container: `docker build -t eon-bot .`, then
# `docker run --env-file .env -p 3000:3000 eon-bot` (or `docker compose up`, with PostgreSQL).
# Python as in .python-version; dependencies at the versions in constraints.txt.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
# Versions are pinned by constraints.txt (-c), which hadolint cannot see.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --prefix=/install -c constraints.txt .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/eon-bot.db
RUN useradd --create-home --uid 10001 --user-group eonbot \
    && mkdir /data \
    && chown eonbot:eonbot /data
COPY --from=build /install /usr/local
USER 10001:10001
WORKDIR /home/eonbot
VOLUME ["/data"]
EXPOSE 3000
# 200 once the scheduler and the database are up (503 otherwise); urllib raises on a 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
# SIGTERM (docker stop's signal) ends eon-bot cleanly within 10 s; docker waits 10 s by default.
STOPSIGNAL SIGTERM
CMD ["eon-bot", "run"]
