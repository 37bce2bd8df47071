# Production image of the platform (web, worker and beat share it; compose.yaml picks the command).
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
RUN pip install --no-deps . \
    && SECRET_KEY=build-only python manage.py collectstatic --no-input -v 0 \
    && mkdir -p /var/lib/argus && chown argus /var/lib/argus

USER argus
EXPOSE 8000
CMD ["gunicorn", "argus_plugins.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
