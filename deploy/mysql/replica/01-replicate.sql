-- Runs once, on a replica's first start (docker-entrypoint-initdb.d), after mysql-primary is
-- healthy (depends_on in docker-compose.yml), so the primary's accounts and database exist and
-- arrive here through replication. This file creates no account of its own: the entrypoint's
-- root setup is not binlogged, so the replica's gtid_executed stays empty and
-- SOURCE_AUTO_POSITION=1 fetches the primary's whole history, users included.

CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = 'mysql-primary',
  SOURCE_PORT = 3306,
  SOURCE_USER = 'repl',
  SOURCE_PASSWORD = 'repl-secret',
  SOURCE_AUTO_POSITION = 1,
  -- caching_sha2_password without TLS needs the primary's RSA key to send the password.
  GET_SOURCE_PUBLIC_KEY = 1,
  SOURCE_CONNECT_RETRY = 5;
START REPLICA;

-- Read-only from now on, root included (replication threads are exempt). Persisted (in
-- mysqld-auto.cnf) instead of passed as --super-read-only in docker-compose.yml, because the
-- image's entrypoint starts its set-up server with the same flags and writes as root (root
-- password, this file) before any of this: super_read_only would make it fail.
SET PERSIST read_only = ON;
SET PERSIST super_read_only = ON;
