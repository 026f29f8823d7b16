#!/usr/bin/env bash
# A local Redis Sentinel set-up: a primary, two replicas and three sentinels watching it under
# the master name `gatehouse` (quorum 2), for the fail-over test and for running the suites on
# Sentinel.
#
# usage: tests/redis-ha/start-sentinel.sh [start]        start it, print its URL, leave it running
#        tests/redis-ha/start-sentinel.sh stop           stop the processes this script started
#        tests/redis-ha/start-sentinel.sh run CMD ARGS…  start, run CMD with TEST_REDIS_URL set,
#                                                        stop; exits with CMD's status
# env:   REDIS_SENTINEL_DATA_PORTS  primary then replicas (default "18411 18412 18413")
#        REDIS_SENTINEL_PORTS       the three sentinels (default "18421 18422 18423")
#        REDIS_SENTINEL_DIR         config files, pid files and logs
#                                   (default /tmp/gatehouse-redis-sentinel); removed by `stop`
#
# Two replicas, not one: the store confirms each write on one replica (WAIT 1) before reporting
# it done, and after the primary dies one replica must remain for that. Sentinels call a primary
# down after 1 s without an answer (down-after-milliseconds 1000) and fail over at once. No
# persistence: a node restarted empty must rejoin as a replica, never as the primary. The URL
# printed (and exported by `run`) is
# redis+sentinel://127.0.0.1:18421,127.0.0.1:18422,127.0.0.1:18423/gatehouse.
# `redis-sentinel` is `redis-server --sentinel`; Debian's redis-server package has the latter.
# Needs: redis-server, redis-cli. Takes about 2 s.
set -euo pipefail

data_ports=(${REDIS_SENTINEL_DATA_PORTS:-18411 18412 18413})
sentinel_ports=(${REDIS_SENTINEL_PORTS:-18421 18422 18423})
dir="${REDIS_SENTINEL_DIR:-/tmp/gatehouse-redis-sentinel}"
master=gatehouse
url="redis+sentinel://$(printf '127.0.0.1:%s,' "${sentinel_ports[@]}" | sed 's/,$//')/$master"

stop() {
  local port pid
  for port in "${sentinel_ports[@]}" "${data_ports[@]}"; do
    pid=$(cat "$dir/$port/redis.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$dir"
}

wait_ping() { # PORT
  for _ in $(seq 1 50); do
    redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "start-sentinel: nothing answers on port $1" >&2
  return 1
}

start() {
  local port primary="${data_ports[0]}"
  for cmd in redis-server redis-cli; do
    command -v "$cmd" >/dev/null || { echo "start-sentinel: $cmd not found" >&2; return 1; }
  done
  stop
  for port in "${data_ports[@]}" "${sentinel_ports[@]}"; do
    if redis-cli -p "$port" PING >/dev/null 2>&1; then
      echo "start-sentinel: something else already answers on port $port" >&2
      return 1
    fi
  done
  for port in "${data_ports[@]}"; do
    mkdir -p "$dir/$port"
    args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir/$port"
      --daemonize yes --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log")
    [ "$port" = "$primary" ] || args+=(--replicaof 127.0.0.1 "$primary")
    redis-server "${args[@]}"
    wait_ping "$port"
  done
  for port in "${sentinel_ports[@]}"; do
    mkdir -p "$dir/$port"
    # Sentinel rewrites its configuration file as it learns the topology: one each, writable.
    cat >"$dir/$port/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/$port/redis.pid
logfile $dir/$port/redis.log
dir $dir/$port
sentinel monitor $master 127.0.0.1 $primary 2
sentinel down-after-milliseconds $master 1000
sentinel failover-timeout $master 10000
sentinel parallel-syncs $master 1
CONF
    redis-server "$dir/$port/sentinel.conf" --sentinel
    wait_ping "$port"
  done
  # Ready when both replicas are in sync and every sentinel knows the primary and its replicas.
  for _ in $(seq 1 100); do
    local ready=yes
    [ "$(redis-cli -p "$primary" INFO replication | grep -c '^slave[0-9]*:.*state=online')" = 2 ] ||
      ready=no
    for port in "${sentinel_ports[@]}"; do
      redis-cli -p "$port" SENTINEL replicas "$master" 2>/dev/null | grep -q "^127.0.0.1:${data_ports[2]}$" ||
        ready=no
    done
    [ "$ready" = yes ] && return 0
    sleep 0.1
  done
  echo "start-sentinel: replicas or sentinels never settled" >&2
  return 1
}

case "${1:-start}" in
  start)
    start || { stop; exit 1; }
    echo "$url"
    ;;
  stop) stop ;;
  run)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 run CMD ARGS…" >&2; exit 2; }
    trap stop EXIT
    trap 'exit 130' INT TERM
    start
    echo "Redis Sentinel up: $url" >&2
    TEST_REDIS_URL="$url" "$@"
    ;;
  -h | --help) sed -n '2,24p' "$0" ;;
  *) echo "usage: $0 [start|stop|run CMD ARGS…]" >&2; exit 2 ;;
esac
