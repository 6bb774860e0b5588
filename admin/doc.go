// Package admin owns tailgate's operator interfaces: the admin SQL listener (MySQL
// protocol, its own account, commands SHOW BACKENDS, EXPLAIN ROUTE, SHOW STATS, SHOW
// SESSIONS, SET BACKEND, SHOW CONFIG, RELOAD CONFIG) and the HTTP listener for Prometheus
// metrics (/metrics) and health checks (/healthz, /readyz).
//
// Both read and steer the running proxy only through Source, which package app
// implements; admin never imports app. Query counters and latencies are pushed on the hot
// path through Metrics.ObserveQuery (a proxy.Observer); everything else is read from
// Source when a command runs or when Prometheus scrapes.
package admin
