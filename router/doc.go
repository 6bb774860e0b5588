// Package router decides where each statement goes: it classifies statement text with the
// TiDB parser (Classifier), decides from the statement and the session's state alone
// (Pin, a pure function), and picks a replica among the eligible ones with a weighted
// round-robin Balancer. It declares the Freshness view it needs of the replicas; package
// replication satisfies it.
package router
