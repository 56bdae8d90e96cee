#!/usr/bin/env bash
# Makes a Debian machine able to build and run Intake's images with podman (the tests/containers tier):
# installs podman and its helpers where missing and writes /etc/containers/containers.conf for a host
# without systemd (cgroupfs, file events, runc, ulimits a broker and a database are happy with).
# Idempotent: installs only what is missing, rewrites the file only when it differs. Needs root and apt;
# elsewhere it says what is missing and the tier skips with that reason.
set -euo pipefail

# The dnsname CNI plugin lets compose services find each other by name (podman 4.3 on CNI needs it).
packages=(podman buildah uidmap fuse-overlayfs slirp4netns runc debootstrap podman-compose
  golang-github-containernetworking-plugin-dnsname)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "podman-setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "podman-setup: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or tests/containers skips"
    exit 0
  fi
fi

config=/etc/containers/containers.conf
wanted='# Written by deploy/containers/podman-setup.sh (Intake): podman on a host without systemd.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
'
if [ "$(id -u)" -eq 0 ]; then
  if [ ! -f "$config" ] || [ "$(cat "$config")" != "$(printf '%s' "$wanted")" ]; then
    if [ -f "$config" ] && ! grep -q 'deploy/containers/podman-setup.sh' "$config"; then
      cp "$config" "$config.before-intake"
      echo "podman-setup: kept the previous $config as $config.before-intake"
    fi
    mkdir -p /etc/containers
    printf '%s' "$wanted" >"$config"
    echo "podman-setup: wrote $config"
  fi
elif [ ! -f "$config" ]; then
  echo "podman-setup: not root; $config is missing (see this script for its content)"
fi
