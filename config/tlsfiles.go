package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadKeyPair reads the certificate chain and private key tailgate presents to clients.
// The error names the file (and so the key) at fault.
func (t *ServerTLS) LoadKeyPair() (tls.Certificate, error) {
	certPEM, err := os.ReadFile(t.Cert)
	if err != nil {
		return tls.Certificate{}, &fileError{key: "cert", err: err}
	}
	if !hasPEMBlock(certPEM, "CERTIFICATE") {
		return tls.Certificate{}, &fileError{key: "cert", err: fmt.Errorf("%s holds no PEM certificate", t.Cert)}
	}
	keyPEM, err := os.ReadFile(t.Key)
	if err != nil {
		return tls.Certificate{}, &fileError{key: "key", err: err}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, &fileError{key: "key", err: fmt.Errorf("%s is not the private key of %s: %w", t.Key, t.Cert, err)}
	}
	return pair, nil
}

// LoadCA reads the CA file the backend's certificate is verified with: the pool and the
// file's bytes. Both are nil when CA is empty (the system roots).
func (t *BackendTLS) LoadCA() (*x509.CertPool, []byte, error) {
	if t.CA == "" {
		return nil, nil, nil
	}
	data, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, nil, fmt.Errorf("%s holds no PEM certificate", t.CA)
	}
	return pool, data, nil
}

// fileError is a TLS file that cannot be used, with the key (of its table) naming it.
type fileError struct {
	key string
	err error
}

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// hasPEMBlock reports whether data holds a PEM block of the given type.
func hasPEMBlock(data []byte, typ string) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil || b.Type == typ {
			return b != nil
		}
	}
}

// readTLSFiles resolves relative TLS file paths against dir (the config file's directory, as
// password_file is) and loads every file once, so that -check and a reload report a missing or
// unusable file with its key and line, next to every other problem, instead of the first one
// failing at start. The files are read again where they are used.
func (d *decoder) readTLSFiles(c *Config, dir string) {
	if t := c.Proxy.TLS; t != nil && t.Cert != "" && t.Key != "" {
		t.Cert, t.Key = inDir(dir, t.Cert), inDir(dir, t.Key)
		if _, err := t.LoadKeyPair(); err != nil {
			key := "cert"
			var fe *fileError
			if errors.As(err, &fe) {
				key = fe.key
			}
			d.add("proxy.tls."+key, "%v", err)
		}
	}
	backend := func(table string, t *BackendTLS) {
		if t == nil || t.CA == "" {
			return
		}
		t.CA = inDir(dir, t.CA)
		if _, _, err := t.LoadCA(); err != nil {
			d.add(joinKey(joinKey(table, "tls"), "ca"), "%v", err)
		}
	}
	backend("primary", c.Primary.TLS)
	for i := range c.Replicas {
		backend(indexKey("replicas", i), c.Replicas[i].TLS)
	}
}

// inDir resolves a relative path against dir.
func inDir(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
