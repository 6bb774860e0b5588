// Package replication watches the replicas: their applied GTID positions and
// reachability (Monitor), which the router reads through its Freshness interface to send
// a session's reads only to replicas that have applied its writes.
package replication
