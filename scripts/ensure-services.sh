#!/usr/bin/env bash
# Start what the integration and browser tests talk to, when it is not running yet:
# PostgreSQL, Redis and Debian's Chromium. Safe to run again.
set -euo pipefail

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The scale-out test puts workers in network namespaces (iproute2) reaching PostgreSQL and
# Redis through a forwarder on the host side of a veth pair (socat).
if ! command -v socat >/dev/null || ! command -v ip >/dev/null; then
  echo "installing socat and iproute2 for the scale-out test"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat iproute2 >/dev/null
fi
