#!/usr/bin/env bash
# make demo: a local MariaDB primary + 2 replicas (GTID replication) and tailgate in front,
# in the foreground until Ctrl-C. Data lives in $1 (default .demo) and is reused next time.
set -euo pipefail
dir=${1:-.demo}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$(cd "$(dirname "$0")/../bin" && pwd)
: "${DEMO_PORTS:=23306,23307,23308}"
: "${DEMO_LISTEN:=127.0.0.1:6033}"
: "${DEMO_ADMIN:=127.0.0.1:6034}"
: "${DEMO_METRICS:=127.0.0.1:9034}"

cleanup() {
  trap - EXIT INT TERM
  [ -n "${tg_pid:-}" ] && kill "$tg_pid" 2>/dev/null && wait "$tg_pid" 2>/dev/null || true
  [ -n "${cl_pid:-}" ] && kill "$cl_pid" 2>/dev/null && wait "$cl_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
start_cluster "$dir" "$dir/cluster.log"
write_config "$dir/tailgate.toml" "$DEMO_LISTEN" "$DEMO_ADMIN" "$DEMO_METRICS" 4200001 "Written by make demo."

"$bin/tailgate" -config "$dir/tailgate.toml" 2>"$dir/tailgate.log" &
tg_pid=$!
host=${DEMO_LISTEN%:*}; port=${DEMO_LISTEN##*:}
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
  kill -0 "$tg_pid" 2>/dev/null || { echo "tailgate failed to start:"; cat "$dir/tailgate.log"; exit 1; }
  sleep 0.1
done
cat <<MSG

tailgate is up.
  primary   $PRIMARY_ADDR
  replica1  $REPLICA1_ADDR
  replica2  $REPLICA2_ADDR
  tailgate  $DEMO_LISTEN   (log: $dir/tailgate.log)

Connect:  mariadb --no-defaults -h$host -P$port -uapp -papp-secret tailgate_test
Try:      SELECT @@server_id;    -- replicas 2 and 3 take turns
          CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);   -- primary (server_id 1)
Admin:    mariadb --no-defaults -h${DEMO_ADMIN%:*} -P${DEMO_ADMIN##*:} -uadmin -padmin-secret -e 'SHOW BACKENDS'

Ctrl-C stops tailgate and the servers (data stays in $dir for the next run).
MSG
wait "$tg_pid"
