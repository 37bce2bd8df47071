#!/usr/bin/env bash
# A Debian base image made here, without any registry: debootstrap a minimal bookworm root filesystem and
# `docker import` it, the same way the sandbox's runtime images are made (execution/sandbox/images.py).
# The production image (Dockerfile) and the service images under deploy/images/ are built FROM it.
#
#   bash scripts/build_base_image.sh [IMAGE]       (default argus-base:bookworm; needs root and debootstrap)
#
# Skipped when IMAGE already carries this recipe's revision label; the raw debootstrap output is cached
# under /var/cache/argus-runtime like the runtime images' (ARGUS_BASE_REFRESH=1 makes it again).
set -euo pipefail

IMAGE="${1:-argus-base:bookworm}"
SUITE=bookworm
MIRROR="${ARGUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Python 3.11 (bookworm's python3.11) with venv for the platform; ca-certificates for TLS; tini as PID 1.
# (debootstrap does not follow every dependency of an --include: python3.11-venv needs python3-distutils named.)
PACKAGES=(ca-certificates python3.11 python3.11-venv python3-distutils python3-pip-whl python3-setuptools-whl tini)
CACHE_DIR="${ARGUS_BASE_CACHE_DIR:-/var/cache/argus-runtime}"
RECIPE_VERSION=1

revision="$(printf '%s\n' "$RECIPE_VERSION" "$SUITE" "$(uname -m)" "${PACKAGES[@]}" | sha256sum | cut -c1-16)"
label=org.argus.base.revision
if [ "$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$IMAGE" 2>/dev/null)" = "$revision" ]; then
    echo "$IMAGE is up to date (revision $revision)" >&2
    exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "debootstrap needs root" >&2; exit 1; }
export PATH="$PATH:/usr/sbin:/sbin"
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

mkdir -p "$CACHE_DIR"
tarball="$CACHE_DIR/base-$SUITE-$revision.tar"
exec 9>"$CACHE_DIR/.base-build.lock"
flock 9
if [ ! -f "$tarball" ] || [ "${ARGUS_BASE_REFRESH:-0}" = 1 ]; then
    work="$(mktemp -d "$CACHE_DIR/base-XXXXXX")"
    cleanup() {
        # A failed debootstrap can leave /proc or /sys mounted inside the target: never rm -r those.
        grep -o " $work/rootfs/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l || true
        rm -rf "$work"
    }
    trap cleanup EXIT
    started=$SECONDS
    echo "debootstrap --variant=minbase $SUITE ($(IFS=,; echo "${PACKAGES[*]}"))" >&2
    debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$work/rootfs" "$MIRROR" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log" >&2
        grep -B5 -A5 -iE "error|fail" "$work/rootfs/debootstrap/debootstrap.log" 2>/dev/null | tail -40 >&2
        exit 1
    }
    # apt's lists and caches are not part of an image; documentation and translations neither.
    rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin "$work"/rootfs/var/cache/apt/archives/*.deb \
        "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/locale/* "$work"/rootfs/usr/share/info/*
    echo "deb $MIRROR $SUITE main" >"$work/rootfs/etc/apt/sources.list"
    tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$work/rootfs.tar" .
    mv "$work/rootfs.tar" "$tarball"
    echo "debootstrap done in $((SECONDS - started))s" >&2
fi
docker import \
    --change "LABEL $label=$revision" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8" \
    --change 'CMD ["/bin/bash"]' \
    "$tarball" "$IMAGE" >/dev/null
echo "imported $IMAGE (revision $revision)" >&2
