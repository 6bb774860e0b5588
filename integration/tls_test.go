package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/config"
	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// clusterCA returns a pool with the test cluster's self-signed certificate.
func clusterCA(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(shared.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in", shared.TLSCert)
	}
	return pool
}

// TestClientTLS: tailgate offers TLS with [proxy.tls]; require_tls refuses plain clients
// with 3159; a TLS 1.1 client is refused.
func TestClientTLS(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.TLS = &config.ServerTLS{
		Cert: shared.TLSCert, Key: filepath.Join(filepath.Dir(shared.TLSCert), "key.pem"),
		RequireTLS: true, MinVersion: config.TLSVersion12,
	}
	tg := startTailgate(t, cfg)
	if err := mysqldriver.RegisterTLSConfig("tailgate-test", &tls.Config{RootCAs: clusterCA(t), ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := mysqldriver.RegisterTLSConfig("tailgate-tls11", &tls.Config{RootCAs: clusterCA(t), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err != nil {
		t.Fatal(err)
	}
	open := func(params string) *sql.DB {
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/tailgate_test?%s", cluster.AppUser, cluster.AppPassword, tg.addr, params))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	secure := open("tls=tailgate-test")
	for range 4 {
		if id := serverID(t, secure, "SELECT @@server_id"); id == int(shared.Primary.ServerID) {
			t.Errorf("a read over TLS went to the primary")
		}
	}
	var me *mysqldriver.MySQLError
	if err := open("").Ping(); !errors.As(err, &me) || me.Number != 3159 {
		t.Errorf("plain client with require_tls: %v, want error 3159", err)
	}
	if err := open("tls=tailgate-tls11").Ping(); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 client: %v, want a protocol version failure", err)
	}
}

// TestBackendTLS: with [primary.tls] and [replicas.tls] every backend session is encrypted
// and verified against the CA; a wrong CA fails closed (no plain fallback).
func TestBackendTLS(t *testing.T) {
	cfg := testConfig(shared)
	verified := &config.BackendTLS{CA: shared.TLSCert, Verify: true, Required: true}
	cfg.Primary.TLS = verified
	for i := range cfg.Replicas {
		cfg.Replicas[i].TLS = verified
	}
	tg := startTailgate(t, cfg)
	c := conn(t, tg.db(t, ""))
	for _, q := range []string{"SHOW SESSION STATUS LIKE 'Ssl_version'", "/* tailgate:primary */ SHOW SESSION STATUS LIKE 'Ssl_version'"} {
		for range 2 {
			var name, version string
			if err := c.QueryRowContext(context.Background(), q).Scan(&name, &version); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(version, "TLSv1.") {
				t.Errorf("%s: backend session Ssl_version = %q, want TLS", q, version)
			}
		}
	}

	// A server that closes an idle TLS connection (wait_timeout) is noticed before the
	// connection is used again, as over plain TCP (go-sql-driver's TestStaleConnectionChecks
	// through tailgate got error 2013 on its ROLLBACK: the idle check could not look below TLS).
	mustExec(t, c, "SET @@SESSION.wait_timeout = 1")
	time.Sleep(2500 * time.Millisecond) // the server closes the session's connections after 1 s
	tx, err := c.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatalf("BEGIN after the server closed the idle backend connection: %v", err)
	}
	if _, err := tx.Exec("UPDATE tls_idle SET v = v WHERE id = -1"); err != nil && !strings.Contains(err.Error(), "1146") {
		t.Fatalf("statement in the transaction: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("ROLLBACK after the server closed the idle backend connection: %v", err)
	}
	mustExec(t, c, "SET @@SESSION.wait_timeout = DEFAULT")

	// A CA that did not sign the servers' certificate: logins fail, nothing goes plain.
	other := filepath.Join(t.TempDir(), "other-ca.pem")
	otherCluster := cluster.StartT(t, cluster.Options{Replicas: 0, Logf: t.Logf}) // has its own self-signed cert
	pem, err := os.ReadFile(otherCluster.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := testConfig(shared)
	unsigned := &config.BackendTLS{CA: other, Verify: true, Required: true}
	bad.Primary.TLS = unsigned
	for i := range bad.Replicas {
		bad.Replicas[i].TLS = unsigned // else the login is checked on a replica
	}
	tgBad := startTailgate(t, bad)
	err = tgBad.db(t, "").Ping()
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("login with a backend certificate the CA did not sign: %v, want a certificate error", err)
	}
}
