// Package replication watches the replicas: their applied GTID positions and
// reachability (Monitor), which the router reads through its Freshness interface to send
// a session's reads only to replicas that have applied its writes. It tails the primary's
// binlog to measure lag, and polls the primary's position in its stead while it has no
// stream. Following promotions (follow.go), it watches read_only on every server and
// reports a replica promoted outside tailgate. MariaDB (domain-server-seq GTIDs) and MySQL (uuid:gno GTID sets,
// gtid_mode=ON) are told apart by each server's version; gtid.go models both.
package replication
