// Package router decides where each statement goes: it classifies statement text with the
// TiDB parser (Classifier, which caches by exact text and by statement shape, the text with
// its literals taken out), decides from the statement and the session's state alone
// (Pin, a pure function), and picks a replica among the eligible ones with a weighted
// round-robin Balancer. Each classified statement carries its Digest (digest.go: what
// ran, by shape, and whether a read of it was found to write) and the hints of the
// operator's routing Rules (rules.go). It declares the Freshness view it needs of the
// replicas; package replication satisfies it.
package router
