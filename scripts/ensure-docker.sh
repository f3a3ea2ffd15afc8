#!/usr/bin/env bash
# Make sure a Docker engine answers. On a machine that already has one, use it and install
# nothing; otherwise (root only) install Debian's docker.io and start dockerd in the background.
set -euo pipefail

engine_answers() { docker info >/dev/null 2>&1; }

if engine_answers; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-docker: no Docker engine answers and we are not root; start Docker and retry." >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  echo "ensure-docker: installing Debian's docker.io ..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
# A dockerd killed with its session leaves its pid file behind, and a new one refuses to start.
# (The pid file, not pgrep: minimal images may lack procps.)
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "ensure-docker: dockerd (pid $(cat "$pidfile")) is starting; waiting for it ..." >&2
else
  if [ -f "$pidfile" ]; then
    echo "ensure-docker: removing stale $pidfile" >&2
    rm -f "$pidfile"
  fi
  echo "ensure-docker: starting dockerd (log: /var/log/labloop-dockerd.log) ..." >&2
  nohup setsid dockerd >/var/log/labloop-dockerd.log 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do
  engine_answers && exit 0
  sleep 0.5
done
echo "ensure-docker: dockerd did not answer within 30 s; see /var/log/labloop-dockerd.log" >&2
tail -20 /var/log/labloop-dockerd.log >&2 || true
exit 1
