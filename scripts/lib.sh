# Shared by scripts/demo.sh and scripts/demo-ha.sh (sourced; expects $bin and DEMO_PORTS).

# start_cluster DIR LOG: starts bin/tailgate-cluster on DIR/cluster in the background (its
# pid in cl_pid), waits until the cluster is up and sources its cluster.env.
start_cluster() {
  local dir=$1 log=$2
  rm -f "$dir/cluster/cluster.env" # a file from an earlier run must not count as ready
  "$bin/tailgate-cluster" -dir "$dir/cluster" -replicas 2 -ports "$DEMO_PORTS" >"$log" 2>&1 &
  cl_pid=$!
  for _ in $(seq 1 600); do
    [ -f "$dir/cluster/cluster.env" ] && break
    kill -0 "$cl_pid" 2>/dev/null || { echo "the MariaDB cluster failed to start:"; cat "$log"; exit 1; }
    sleep 0.1
  done
  [ -f "$dir/cluster/cluster.env" ] || { echo "the MariaDB cluster did not come up in 60 s:"; cat "$log"; exit 1; }
  # shellcheck disable=SC1091
  . "$dir/cluster/cluster.env"
}

# write_config FILE LISTEN ADMIN METRICS SERVER_ID COMMENT [PROXY_LINES]: a tailgate config in front of
# the cluster started by start_cluster.
write_config() {
  cat >"$1" <<TOML
# $6
[proxy]
listen = "$2"
${7:-}

[admin]
listen = "$3"
user = "admin"
password = "admin-secret"

[metrics]
listen = "$4"

[[users]]
name = "app"
password = "app-secret"

[primary]
address = "$PRIMARY_ADDR"

[[replicas]]
name = "replica1"
address = "$REPLICA1_ADDR"

[[replicas]]
name = "replica2"
address = "$REPLICA2_ADDR"

[replication]
user = "tailgate"
password = "tailgate-secret"
server_id = $5
TOML
}
