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
# The pid in it may since belong to another process, or to a dockerd still dying: only a live
# (non-zombie) process named dockerd counts. (/proc, not pgrep: minimal images may lack procps.)
pidfile=/var/run/docker.pid
dockerd_alive() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}
wait_for_engine() {  # $1 = tries of 0.5 s
  for _ in $(seq 1 "$1"); do
    engine_answers && return 0
    sleep 0.5
  done
  return 1
}

if dockerd_alive; then
  echo "ensure-docker: dockerd (pid $(cat "$pidfile")) is running; waiting for it to answer ..." >&2
  wait_for_engine 60 && exit 0
fi
if ! dockerd_alive; then
  if [ -f "$pidfile" ]; then
    echo "ensure-docker: removing stale $pidfile" >&2
    rm -f "$pidfile"
  fi
  echo "ensure-docker: starting dockerd (log: /var/log/labloop-dockerd.log) ..." >&2
  nohup setsid dockerd >/var/log/labloop-dockerd.log 2>&1 </dev/null &
fi
wait_for_engine 120 && exit 0
echo "ensure-docker: dockerd did not answer within 60 s; see /var/log/labloop-dockerd.log" >&2
tail -20 /var/log/labloop-dockerd.log >&2 || true
exit 1
