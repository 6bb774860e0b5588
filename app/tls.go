package app

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"

	"github.com/tailgate-proxy/tailgate/config"
)

// serverTLS builds the TLS configuration offered to clients ([proxy.tls]), or nil.
func serverTLS(c *config.ServerTLS) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	cert, err := c.LoadKeyPair()
	if err != nil {
		return nil, fmt.Errorf("proxy.tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tlsVersion(c.MinVersion)}, nil
}

// backendTLS builds the TLS configuration for connections to the server at address
// ([primary.tls], [replicas.tls]), or nil for plain connections, and an id of what it was
// built from (the settings and the CA file's contents): a reload that leaves them as they
// were keeps the backend's connections.
func backendTLS(c *config.BackendTLS, address string) (*tls.Config, string, error) {
	if c == nil {
		return nil, "", nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !c.Verify} //nolint:gosec // verify = false is the operator's explicit choice
	id := sha256.New()
	fmt.Fprintf(id, "%q %q %t %t\n", c.CA, c.ServerName, c.Verify, c.Required)
	pool, pem, err := c.LoadCA()
	if err != nil {
		return nil, "", fmt.Errorf("tls.ca: %w", err)
	}
	if pool != nil {
		cfg.RootCAs = pool
		id.Write(pem)
	}
	cfg.ServerName = c.ServerName
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, "", err
		}
		cfg.ServerName = host
	}
	return cfg, hex.EncodeToString(id.Sum(nil)), nil
}

func tlsVersion(v string) uint16 {
	if v == config.TLSVersion13 {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}
