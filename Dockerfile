# Production image of the platform (web, worker and beat share it; compose.yaml picks the command).

# GraphiQL and React from the npm registry, at the versions pinned in tools/graphiql/package-lock.json.
FROM node:20-bookworm-slim AS graphiql
COPY tools/graphiql/ /src/tools/graphiql/
RUN bash /src/tools/graphiql/install.sh /src/build/graphiql

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ARGUS_ENV=production \
    ARGUS_DATA_DIR=/var/lib/argus

RUN apt-get update \
    && apt-get install -y --no-install-recommends debootstrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10000 --home-dir /app argus

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
COPY --from=graphiql /src/build/graphiql build/graphiql
RUN pip install --no-deps . \
    && SECRET_KEY=build-only python manage.py collectstatic --no-input -v 0 \
    && mkdir -p /var/lib/argus/metrics && chown -R argus /var/lib/argus

USER argus
EXPOSE 8000
CMD ["gunicorn", "argus_plugins.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
