package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// startHeaderServer runs a proxy with no reachable backend (an accepted login gets 1218,
// a refused one 1045) whose PROXY protocol networks are nets.
func startHeaderServer(t *testing.T, nets ...string) string {
	t.Helper()
	var prefixes []netip.Prefix
	for _, n := range nets {
		prefixes = append(prefixes, netip.MustParsePrefix(n))
	}
	s := serveNoBackend(t, Options{
		MaxAuthFailures:       2,
		Users:                 []User{{Name: "app", Password: "secret"}},
		ProxyProtocolNetworks: prefixes,
	})
	return s.Addr().String()
}

// loginVia logs in to addr with a PROXY v1 header naming from (none when from is ""),
// returning the server's error code (0: logged in; -1: no MySQL error, the connection
// failed).
func loginVia(t *testing.T, addr, from, password string) (int, string) {
	t.Helper()
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, address)
		if err != nil || from == "" {
			return c, err
		}
		_, port, _ := net.SplitHostPort(address)
		_, err = fmt.Fprintf(c, "PROXY TCP4 %s 127.0.0.1 40000 %s\r\n", from, port)
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.ConnectWithDialer(ctx, "tcp", addr, "app", password, "", dial)
	if err == nil {
		_ = c.Close()
		return 0, ""
	}
	var myErr *mysql.MyError
	if errors.As(err, &myErr) {
		return int(myErr.Code), myErr.Message
	}
	return -1, err.Error()
}

// TestProxyProtocolHeader: a connection from proxy_protocol_networks is the client its
// PROXY header names (failed logins count against that host, not the load balancer's),
// one without a header is closed, and other peers need none.
func TestProxyProtocolHeader(t *testing.T) {
	addr := startHeaderServer(t, "127.0.0.1/32")
	for range 2 {
		if code, msg := loginVia(t, addr, "192.0.2.7", "wrong"); code != mysql.ER_ACCESS_DENIED_ERROR {
			t.Fatalf("wrong password via the load balancer: %d %s, want 1045", code, msg)
		}
	}
	code, msg := loginVia(t, addr, "192.0.2.7", "secret")
	if code != mysql.ER_HOST_IS_BLOCKED || !strings.Contains(msg, "'192.0.2.7'") {
		t.Errorf("third login from 192.0.2.7: %d %s, want 1129 naming 192.0.2.7", code, msg)
	}
	if code, msg := loginVia(t, addr, "192.0.2.8", "secret"); code != mysql.ER_CONNECT_TO_MASTER {
		t.Errorf("another client behind the same load balancer: %d %s, want 1218 (logged in, no backend)", code, msg)
	}
	if code, msg := loginVia(t, addr, "", "secret"); code != -1 {
		t.Errorf("no PROXY header from a load balancer address: %d %s, want the connection closed", code, msg)
	}

	other := startHeaderServer(t, "127.0.0.2/32")
	if code, msg := loginVia(t, other, "", "secret"); code != mysql.ER_CONNECT_TO_MASTER {
		t.Errorf("a client outside proxy_protocol_networks without a header: %d %s, want 1218", code, msg)
	}
}
