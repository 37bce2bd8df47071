# Production image of the platform (web, worker, beat and the migrations share it; compose.yaml picks the
# command). Built without any registry by scripts/build_images.sh: BASE_IMAGE is the Debian bookworm image
# that scripts/build_base_image.sh makes with debootstrap (any Debian bookworm image with python3.11 and
# python3.11-venv will do, e.g. one from a registry), the Python packages are the wheels of requirements.txt
# that the script collects into build/wheels (no index is asked during the build), and GraphiQL's assets
# are the ones scripts/lib.sh installs into build/graphiql from tools/graphiql's lock file.
ARG BASE_IMAGE=argus-base:bookworm

FROM ${BASE_IMAGE} AS python-env
COPY requirements.txt /tmp/requirements.txt
COPY build/wheels/ /tmp/wheels/
RUN python3.11 -m venv /opt/argus \
    && /opt/argus/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels -r /tmp/requirements.txt

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/argus/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ARGUS_ENV=production \
    ARGUS_DATA_DIR=/var/lib/argus
# debootstrap: `manage.py build_runtime_images` can make the sandbox's runtime images from this image too.
RUN apt-get update \
    && apt-get install -y --no-install-recommends debootstrap \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10000 argus \
    && useradd --system --uid 10000 --gid 10000 --home-dir /app argus
COPY --from=python-env /opt/argus /opt/argus
WORKDIR /app
COPY . .
COPY build/graphiql/ build/graphiql/
RUN SECRET_KEY=build-only python manage.py collectstatic --no-input -v 0 \
    && mkdir -p /var/lib/argus/metrics /var/lib/argus/media /var/lib/argus/work \
    && chown -R argus:argus /var/lib/argus

# Everything runs as this unprivileged user, the worker included (compose.yaml gives it the Docker
# socket's group: see README, "Deployment", for what that access amounts to).
USER argus
EXPOSE 8000
ENTRYPOINT ["tini", "--"]
CMD ["gunicorn", "argus_plugins.wsgi:application", "--config", "python:argus_plugins.core.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "4"]
