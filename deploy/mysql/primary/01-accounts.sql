-- Runs once, on mysql-primary's first start (the mysql image runs every file in
-- /docker-entrypoint-initdb.d on an empty data directory).
--
-- These statements are binlogged with GTIDs, so the replicas, which replicate from the
-- primary's first transaction (SOURCE_AUTO_POSITION=1 on an empty gtid_executed), create the
-- same database and accounts: nothing here is repeated on the replicas.
--
-- Demo passwords: change them here and in deploy/tailgate/*.toml together.
-- Every account uses caching_sha2_password, MySQL 8.4's default (mysql_native_password is
-- disabled in 8.4); tailgate's backend client speaks it.

CREATE DATABASE appdb;

-- The replicas' IO threads.
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-secret';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';

-- tailgate's binlog tailer (REPLICATION SLAVE: read the binlog) and its position and
-- replication-thread checks on the replicas (REPLICATION CLIENT: SHOW BINARY LOG STATUS,
-- SHOW REPLICA STATUS). Nothing else: it reads no table.
CREATE USER 'tailgate'@'%' IDENTIFIED BY 'tailgate-secret';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'tailgate'@'%';

-- The application account. Clients log in to tailgate with it ([[users]] in
-- deploy/tailgate/*.toml) and tailgate logs in to every backend with it; it has no global
-- privilege, so it cannot write to the super_read_only replicas.
CREATE USER 'app'@'%' IDENTIFIED BY 'app-secret';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, CREATE TEMPORARY TABLES, LOCK TABLES
  ON appdb.* TO 'app'@'%';
