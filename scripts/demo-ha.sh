#!/usr/bin/env bash
# make demo-ha: docker-compose.yml's topology without Docker, on loopback: the local MariaDB
# primary + 2 replicas of `make demo`, two active-active tailgates, and HAProxy in front of
# them (round robin, health checks on /readyz), in the foreground until Ctrl-C.
# Data lives in $1 (default .demo; the cluster is make demo's, reused), this demo's files in
# $1/ha. Kill a tailgate (the message says how) to watch HAProxy move its clients.
set -euo pipefail
dir=${1:-.demo}
mkdir -p "$dir/ha"
dir=$(cd "$dir" && pwd)
ha=$dir/ha
bin=$(cd "$(dirname "$0")/../bin" && pwd)
: "${DEMO_PORTS:=23306,23307,23308}"
: "${DEMO_HA_LISTEN:=127.0.0.1:6000}"    # HAProxy: applications connect here
: "${DEMO_HA_STATS:=127.0.0.1:6001}"     # HAProxy stats page
# Per tailgate instance: client, admin and metrics ports on 127.0.0.1.
tg_proxy=(6033 6043)
tg_admin=(6034 6044)
tg_metrics=(9034 9044)

if ! command -v haproxy >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "make demo-ha needs HAProxy: apt-get install -y haproxy (as root)"; exit 1
  fi
  echo "installing haproxy (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi

tg_pid=()
cleanup() {
  trap - EXIT INT TERM
  [ -n "${hap_pid:-}" ] && kill "$hap_pid" 2>/dev/null && wait "$hap_pid" 2>/dev/null || true
  for p in "${tg_pid[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  [ -n "${cl_pid:-}" ] && kill "$cl_pid" 2>/dev/null && wait "$cl_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
start_cluster "$dir" "$ha/cluster.log"

# Two instances with the same backends; only the ports and replication.server_id differ.
for i in 0 1; do
  n=$((i + 1))
  # HAProxy connects from 127.0.0.2 with the PROXY protocol (tailgate sees each client's
  # address); clients on 127.0.0.1 can still connect to an instance directly.
  write_config "$ha/tailgate$n.toml" "127.0.0.1:${tg_proxy[$i]}" "127.0.0.1:${tg_admin[$i]}" \
    "127.0.0.1:${tg_metrics[$i]}" "420000$n" "Written by make demo-ha: instance $n of 2." \
    'proxy_protocol_networks = ["127.0.0.2"]'
  "$bin/tailgate" -config "$ha/tailgate$n.toml" 2>"$ha/tailgate$n.log" &
  tg_pid+=($!)
done

cat >"$ha/haproxy.cfg" <<CFG
# Written by make demo-ha (deploy/haproxy/haproxy.cfg is the compose version).
global
    maxconn 2000

defaults
    mode tcp
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout check 1s
    # A connect to an instance that just died is retried, then sent to the other one.
    retries 2
    option redispatch 1

frontend mysql
    bind $DEMO_HA_LISTEN
    default_backend tailgate

backend tailgate
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    source 127.0.0.2
    server tailgate1 127.0.0.1:${tg_proxy[0]} check port ${tg_metrics[0]} send-proxy-v2
    server tailgate2 127.0.0.1:${tg_proxy[1]} check port ${tg_metrics[1]} send-proxy-v2

frontend stats
    mode http
    bind $DEMO_HA_STATS
    stats enable
    stats uri /stats
    stats refresh 2s
CFG
haproxy -c -q -f "$ha/haproxy.cfg"

# ready PORT: GET /readyz on 127.0.0.1:PORT answers 200 (bash only, no curl needed).
ready() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3 | grep -q ' 200 ') 2>/dev/null
}

# Both instances ready before HAProxy starts checking them.
for i in 0 1; do
  n=$((i + 1))
  for _ in $(seq 1 100); do
    ready "${tg_metrics[$i]}" && break
    kill -0 "${tg_pid[$i]}" 2>/dev/null || { echo "tailgate$n failed to start:"; cat "$ha/tailgate$n.log"; exit 1; }
    sleep 0.1
  done
done

haproxy -f "$ha/haproxy.cfg" -db >"$ha/haproxy.log" 2>&1 &
hap_pid=$!
host=${DEMO_HA_LISTEN%:*}; port=${DEMO_HA_LISTEN##*:}
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
  kill -0 "$hap_pid" 2>/dev/null || { echo "haproxy failed to start:"; cat "$ha/haproxy.log"; exit 1; }
  sleep 0.1
done
cat <<MSG

HAProxy and two tailgates are up.
  primary    $PRIMARY_ADDR
  replica1   $REPLICA1_ADDR
  replica2   $REPLICA2_ADDR
  tailgate1  127.0.0.1:${tg_proxy[0]}  admin :${tg_admin[0]}  metrics :${tg_metrics[0]}  pid ${tg_pid[0]}  (log: $ha/tailgate1.log)
  tailgate2  127.0.0.1:${tg_proxy[1]}  admin :${tg_admin[1]}  metrics :${tg_metrics[1]}  pid ${tg_pid[1]}  (log: $ha/tailgate2.log)
  haproxy    $DEMO_HA_LISTEN   round robin over both   stats: http://$DEMO_HA_STATS/stats

Connect:   mariadb --no-defaults -h$host -P$port -uapp -papp-secret tailgate_test
Try:       SELECT @@server_id;    -- replicas 2 and 3 take turns, whichever tailgate you got
Failover:  kill -9 ${tg_pid[0]}    -- tailgate1 dies; its clients reconnect through HAProxy to tailgate2
           curl -s 'http://$DEMO_HA_STATS/stats;csv' | cut -d, -f1,2,18   -- tailgate1 DOWN
Restart:   $bin/tailgate -config $ha/tailgate1.toml   -- in another terminal: UP again; Ctrl-C there stops it
Admin:     mariadb --no-defaults -h127.0.0.1 -P${tg_admin[0]} -uadmin -padmin-secret -e 'SHOW BACKENDS'   (-P${tg_admin[1]}: tailgate2)

Ctrl-C stops HAProxy, the tailgates and the servers (data stays in $dir for the next run).
MSG
# Runs until Ctrl-C; a killed tailgate is the point of the demo, not a reason to stop.
wait "$hap_pid"
