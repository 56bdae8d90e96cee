#!/usr/bin/env bash
# Installs the system packages the test suite needs and that a fresh machine lacks (Debian):
# dovecot-imapd for the IMAP fixture, chromium for the console's browser tests (Playwright drives
# Debian's build; no browser is downloaded), promtool (package prometheus) for the alert-rule tests,
# and the RabbitMQ management API used to make a vhost per test.
# Runs apt only as root and only for what is missing; otherwise it says what to install.
# `system-deps.sh run`: only what `make run` needs (dovecot-imapd for its development mailbox).
set -euo pipefail
scope="${1:-test}"

missing=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
if [ "$scope" != run ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The package may start a system-wide Dovecot on ports 143/993; the tests run their own.
    pkill -x dovecot 2>/dev/null || true
    # Likewise the prometheus package's own server: the tests only need promtool.
    pkill -x prometheus 2>/dev/null || true
  else
    echo "system-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or the tests that need them skip (make run: or INTAKE_DEV_MAILBOX=off)"
  fi
fi

# The tests create a RabbitMQ vhost per test through the management API of a local broker.
if [ "$scope" != run ] && command -v rabbitmq-plugins >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  if ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
    echo "system-deps: enabling rabbitmq_management"
    rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null || true
  fi
fi
