// Package router decides where each statement goes: it classifies statement text with the
// TiDB parser (Classifier, which caches by exact text and by statement shape, the text with
// its literals taken out), decides from the statement and the session's state alone
// (Pin, a pure function), and picks a replica among the eligible ones with a weighted
// round-robin Balancer. It declares the Freshness view it needs of the replicas; package
// replication satisfies it.
package router
