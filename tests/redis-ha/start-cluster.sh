#!/usr/bin/env bash
# A local three-master Redis Cluster (no replicas) from the `redis-server` binary, for running the
# session-store contract tests and the e2e suite on a cluster.
#
# usage: tests/redis-ha/start-cluster.sh [start]        start it, print its URL, leave it running
#        tests/redis-ha/start-cluster.sh stop           stop the nodes this script started
#        tests/redis-ha/start-cluster.sh run CMD ARGS…  start, run CMD with TEST_REDIS_URL set to the
#                                                       cluster, stop; exits with CMD's status
# env:   REDIS_CLUSTER_PORTS  the three node ports (default "18401 18402 18403")
#        REDIS_CLUSTER_DIR    where nodes keep their files, pid files and logs
#                             (default /tmp/gatehouse-redis-cluster); removed by `stop`
#
# Nodes: --cluster-enabled yes, no persistence, 127.0.0.1 only; `redis-cli --cluster create …
# --cluster-replicas 0 --cluster-yes` assigns the 16384 slots, then the script waits until every
# node reports cluster_state:ok. The URL printed (and exported by `run`) is
# redis+cluster://127.0.0.1:18401,127.0.0.1:18402,127.0.0.1:18403.
# Needs: redis-server, redis-cli (Debian: apt-get install redis-server). Takes about 2 s.
set -euo pipefail

ports=(${REDIS_CLUSTER_PORTS:-18401 18402 18403})
dir="${REDIS_CLUSTER_DIR:-/tmp/gatehouse-redis-cluster}"
url="redis+cluster://$(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')"

stop() {
  local port pid
  for port in "${ports[@]}"; do
    pid=$(cat "$dir/$port/redis.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$dir"
}

start() {
  local port node state
  for cmd in redis-server redis-cli; do
    command -v "$cmd" >/dev/null || { echo "start-cluster: $cmd not found" >&2; return 1; }
  done
  stop # a fresh cluster: leftovers of an earlier run would keep their old slot map
  for port in "${ports[@]}"; do
    if redis-cli -p "$port" PING >/dev/null 2>&1; then
      echo "start-cluster: something else already answers on port $port" >&2
      return 1
    fi
    mkdir -p "$dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 2000 \
      --save "" --appendonly no --dir "$dir/$port" --daemonize yes \
      --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log"
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 1 50); do
      redis-cli -p "$port" PING >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 \
    --cluster-yes >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; return 1; }
  for _ in $(seq 1 100); do
    state=ok
    for port in "${ports[@]}"; do
      redis-cli -p "$port" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' || state=no
    done
    [ "$state" = ok ] && return 0
    sleep 0.1
  done
  echo "start-cluster: the cluster never reached cluster_state:ok" >&2
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
    echo "Redis Cluster up: $url" >&2
    TEST_REDIS_URL="$url" "$@"
    ;;
  -h | --help) sed -n '2,18p' "$0" ;;
  *) echo "usage: $0 [start|stop|run CMD ARGS…]" >&2; exit 2 ;;
esac
