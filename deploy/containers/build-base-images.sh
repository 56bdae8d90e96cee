#!/usr/bin/env bash
# Builds, with podman and Debian's packages only, the base images docker-compose.yml and the service
# Dockerfiles name, for a machine that reaches no image registry:
#   - the Python base (the Dockerfiles' PYTHON_BASE): `debootstrap --variant=minbase` of bookworm with
#     python3, python3-venv and ca-certificates (plus the host's extra CAs), imported with `podman import`;
#   - PostgreSQL, RabbitMQ and Dovecot (the images of compose's postgres, rabbitmq and imap services),
#     each built FROM that base with Debian's packages (deploy/containers/<name>/Containerfile).
# Each is tagged with the upstream name, so the same compose file runs upstream images where a registry
# is reachable and these here. An image that already exists is kept unless --rebuild is given.
# Usage: deploy/containers/build-base-images.sh [--rebuild]
set -euo pipefail
cd "$(dirname "$0")/../.."
here=deploy/containers

rebuild=false
for argument in "$@"; do
  case "$argument" in
    --rebuild) rebuild=true ;;
    *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
  esac
done

# The names come from where they are used, so they cannot drift apart.
python_base=$(sed -n 's/^ARG PYTHON_BASE=//p' deploy/docker/config-api.Dockerfile | head -n1)
compose_image() {  # the image: of one top-level service in docker-compose.yml
  awk -v service="  $1:" '$0 == service {inside=1; next} /^  [^ ]/ {inside=0} inside && $1 == "image:" {print $2; exit}' docker-compose.yml
}
postgres_image=$(compose_image postgres)
rabbitmq_image=$(compose_image rabbitmq)
dovecot_image=$(compose_image imap)
for name in python_base postgres_image rabbitmq_image dovecot_image; do
  [ -n "${!name}" ] || { echo "build-base-images: could not read $name from the Dockerfile/compose file" >&2; exit 1; }
done

# Fully qualified, as podman stores them: an unqualified name is looked up in docker.io by both tools.
qualify() {
  local name=$1 first=${1%%/*}
  if [[ $name != */* ]]; then echo "docker.io/library/$name"
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then echo "docker.io/$name"
  else echo "$name"; fi
}

exists() { [ "$rebuild" = false ] && podman image exists "$(qualify "$1")"; }

# The Debian mirror and security mirror the host's apt uses (deb822 or one-line sources), else Debian's own.
host_mirror() {  # $1: suite to look for
  cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v suite="$1" '
    /^URIs:/ {uri=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == suite) {print uri; exit}}'
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v suite="$1" '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {if ($(i+1) == suite) print $i; break}}'
  true  # a missing sources file is no error
}
mirror=${INTAKE_DEBIAN_MIRROR:-$(host_mirror bookworm | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
security_mirror=${INTAKE_DEBIAN_SECURITY_MIRROR:-$(host_mirror bookworm-security | head -n1)}
security_mirror=${security_mirror:-http://deb.debian.org/debian-security}

build_python_base() {
  local rootfs
  rootfs=$(mktemp -d /var/tmp/intake-python-base.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  echo "build-base-images: debootstrap bookworm from $mirror -> $python_base"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" \
    >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; return 1; }
  rm -f "$rootfs.log"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  rm -f "$rootfs/etc/apt/sources.list"
  # Services are never started while packages install in an image (there is no init to start them).
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  # Lean images: no downloaded .deb kept, no documentation or translations.
  cat >"$rootfs/etc/apt/apt.conf.d/90intake-image" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
APT
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90intake-image" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/info/*
DPKG
  # The host's extra CAs (e.g. a TLS-inspecting proxy in front of PyPI), trusted as on the host.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi
  chroot "$rootfs" update-ca-certificates >/dev/null
  # Security updates released since the point release debootstrap installed.
  chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >/dev/null'
  chroot "$rootfs" sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/*.log /var/log/apt/* /tmp/* /root/.cache'
  : >"$rootfs/etc/resolv.conf"
  : >"$rootfs/etc/hostname"
  tar --numeric-owner -C "$rootfs" -c . | podman import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    --message "Debian bookworm minbase with python3 (deploy/containers/build-base-images.sh)" \
    - "$(qualify "$python_base")" >/dev/null
}

build_from_base() {  # $1: directory under deploy/containers, $2: image name
  echo "build-base-images: $here/$1/Containerfile -> $2"
  podman build --format docker --layers --build-arg "BASE=$(qualify "$python_base")" \
    -t "$(qualify "$2")" -f "$here/$1/Containerfile" "$here/$1"
}

exists "$python_base" || build_python_base
exists "$postgres_image" || build_from_base postgres "$postgres_image"
exists "$rabbitmq_image" || build_from_base rabbitmq "$rabbitmq_image"
exists "$dovecot_image" || build_from_base dovecot "$dovecot_image"
echo "build-base-images: ready: $python_base $postgres_image $rabbitmq_image $dovecot_image"
