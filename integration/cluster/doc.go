// Package cluster starts real MariaDB servers for tailgate's integration tests, benchmarks and
// `make demo`: one primary and N replicas with GTID replication, each in its own data directory and
// on its own loopback port.
//
// It owns the whole life of those servers: writing each node's my.cnf, installing data
// directories, starting and reaping mariadbd processes, creating the accounts the proxy and the
// tests use, pointing the replicas at the primary and waiting until they have caught up. It knows
// nothing about tailgate itself.
//
// Tests call StartT, which fails the test (never skips it) when MariaDB is not installed and
// registers Close as a cleanup. Everything else calls Start and Close. Start on a directory that
// already holds a cluster from an earlier run restarts it instead of installing a new one.
//
// Every server runs as a child of the calling process, in its own process group and with
// PR_SET_PDEATHSIG=SIGKILL, so a test binary that dies or times out never leaves servers behind.
// Node offers Stop, Kill, Start, Pause and Resume for fault tests.
package cluster
