#!/usr/bin/env bash
# Make sure a Docker engine answers. On a machine that already has one, use it and install
# nothing; otherwise (root only) install Debian's docker.io and start dockerd in the background.
# As root it also makes gVisor's runsc available to the engine as the runtime "runsc"
# (LABLOOP_SANDBOX_RUNTIME=runsc), with no network of its own and the host FIFO the sandbox's
# launcher reads; LABLOOP_NO_RUNSC=1 skips that.
set -euo pipefail

engine_answers() { docker info >/dev/null 2>&1; }
has_runsc() { docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }

# Register runsc in /etc/docker/daemon.json (keeping whatever else is there).
configure_runsc() {
  [ "$(id -u)" = 0 ] && [ "${LABLOOP_NO_RUNSC:-0}" != 1 ] || return 1
  if ! command -v runsc >/dev/null 2>&1; then
    echo "ensure-docker: installing Debian's runsc (gVisor) ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runsc >/dev/null || return 1
  fi
  mkdir -p /etc/docker
  python3 - "$(command -v runsc)" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
config.setdefault("runtimes", {})["runsc"] = {
    "path": sys.argv[1], "runtimeArgs": ["--network=none", "--host-fifo=open"]}
json.dump(config, open(path, "w"), indent=2)
PY
}

if engine_answers; then
  if ! has_runsc && configure_runsc && [ -f /var/run/docker.pid ]; then
    kill -HUP "$(cat /var/run/docker.pid)"  # dockerd reloads its runtimes on SIGHUP
    for _ in $(seq 1 20); do has_runsc && break; sleep 0.25; done
  fi
  exit 0
fi
configure_runsc || echo "ensure-docker: runsc (gVisor) not set up; experiments use the default runtime" >&2
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
