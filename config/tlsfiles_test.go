package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testTLSDir holds the TLS files the tests' configs name, relative to a config file in it:
// "c" and "k" (a certificate and its key), "ca.pem", "primary-ca.pem" and "r2-ca.pem" (that
// certificate as a CA), "other.key" (another key) and "notpem" (text).
var testTLSDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tailgate-config-test-")
	if err == nil {
		err = writeTestTLSFiles(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "config tests: TLS files:", err)
		os.Exit(1)
	}
	testTLSDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func writeTestTLSFiles(dir string) error {
	keyPEM := func() ([]byte, *ecdsa.PrivateKey, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), key, nil
	}
	k, key, err := keyPEM()
	if err != nil {
		return err
	}
	other, _, err := keyPEM()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tailgate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{
		"c": c, "k": k, "ca.pem": c, "primary-ca.pem": c, "r2-ca.pem": c,
		"other.key": other, "notpem": []byte("not a certificate\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// inTLSDir is the path of a config file named name in testTLSDir.
func inTLSDir(name string) string { return filepath.Join(testTLSDir, name) }

func TestTLSFilesReportedTogether(t *testing.T) {
	doc := proxyT + `[proxy.tls]
cert = "notpem" #<-cert
key = "k"
` + usersT + `[primary]
address = "127.0.0.1:3306"
[primary.tls]
ca = "/nonexistent/ca.pem" #<-primary
[[replicas]]
name = "r1"
address = "127.0.0.1:3307"
[replicas.tls]
ca = "notpem" #<-r1
[[replicas]]
name = "r2"
address = "127.0.0.1:3308"
[replicas.tls]
ca = "r2-ca.pem"
`
	line := func(mark string) int {
		for i, l := range strings.Split(doc, "\n") {
			if strings.HasSuffix(l, "#<-"+mark) {
				return i + 1
			}
		}
		t.Fatalf("no line marked %s", mark)
		return 0
	}
	_, err := Parse([]byte(doc), inTLSDir("tailgate.toml"))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse: %v, want *Errors", err)
	}
	want := []Problem{
		{Key: "proxy.tls.cert", Line: line("cert"), Msg: inTLSDir("notpem") + " holds no PEM certificate"},
		{Key: "primary.tls.ca", Line: line("primary"), Msg: "open /nonexistent/ca.pem: no such file or directory"},
		{Key: "replicas[0].tls.ca", Line: line("r1"), Msg: inTLSDir("notpem") + " holds no PEM certificate"},
	}
	if !reflect.DeepEqual(errs.Problems, want) {
		t.Errorf("problems:\n%v\nwant:\n%v", errs.Problems, want)
	}
}

func TestTLSKeyPair(t *testing.T) {
	for _, tc := range []struct{ name, cert, key, wantKey, wantMsg string }{
		{"missing cert", "/nonexistent/c", "k", "proxy.tls.cert", "open /nonexistent/c: no such file or directory"},
		{"missing key", "c", "/nonexistent/k", "proxy.tls.key", "open /nonexistent/k: no such file or directory"},
		{"key of another certificate", "c", "other.key", "proxy.tls.key", "is not the private key of " + inTLSDir("c")},
		{"key is a certificate", "c", "ca.pem", "proxy.tls.key", "is not the private key of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := proxyT + "[proxy.tls]\ncert = \"" + tc.cert + "\"\nkey = \"" + tc.key + "\"\n" + usersT + primaryT
			_, err := Parse([]byte(doc), inTLSDir("tailgate.toml"))
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) != 1 {
				t.Fatalf("Parse: %v, want one problem", err)
			}
			if p := errs.Problems[0]; p.Key != tc.wantKey || !strings.Contains(p.Msg, tc.wantMsg) {
				t.Errorf("problem %+v, want key %s and %q", p, tc.wantKey, tc.wantMsg)
			}
		})
	}
}

// TLS file paths are relative to the config file, as password_file is, and the config holds
// them resolved: that is what the proxy opens.
func TestTLSPathsRelativeToConfig(t *testing.T) {
	doc := proxyT + "[proxy.tls]\ncert = \"c\"\nkey = \"" + inTLSDir("k") + "\"\n" + usersT + primaryT + "[primary.tls]\nca = \"ca.pem\"\n"
	c, err := Parse([]byte(doc), inTLSDir("tailgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy.TLS.Cert != inTLSDir("c") || c.Proxy.TLS.Key != inTLSDir("k") || c.Primary.TLS.CA != inTLSDir("ca.pem") {
		t.Errorf("paths %q %q %q, want them in %s", c.Proxy.TLS.Cert, c.Proxy.TLS.Key, c.Primary.TLS.CA, testTLSDir)
	}
	if _, err := c.Proxy.TLS.LoadKeyPair(); err != nil {
		t.Errorf("LoadKeyPair: %v", err)
	}
	if pool, pem, err := c.Primary.TLS.LoadCA(); pool == nil || len(pem) == 0 || err != nil {
		t.Errorf("LoadCA: %v, %d bytes, %v", pool, len(pem), err)
	}
	// Without a config path they are relative to the working directory: config/, which has none.
	if _, err := Parse([]byte(doc), ""); err == nil || !strings.Contains(err.Error(), "proxy.tls.cert: open c: no such file") {
		t.Errorf("Parse without a path: %v, want c looked for in the working directory", err)
	}
}

// A secret of the wrong type is reported without its value.
func TestSecretOfWrongTypeMasked(t *testing.T) {
	doc := proxyT + primaryT + "[[users]]\nname = \"app\"\npassword = 20261127 #<-\nbackend_password = 1.5\n[replication]\nuser = \"r\"\npassword = true\n"
	problems := parseProblems(t, doc)
	if len(problems) != 3 {
		t.Fatalf("problems: %v, want 3", problems)
	}
	for _, p := range problems {
		for _, secret := range []string{"20261127", "1.5", "true"} {
			if strings.Contains(p.Msg, secret) {
				t.Errorf("%s: %q shows the secret %s", p.Key, p.Msg, secret)
			}
		}
	}
	if p := problems[0]; p.Key != "users[0].password" || p.Msg != "must be a string, not an integer" {
		t.Errorf("first problem %+v", p)
	}
	// Other keys keep their value in the message.
	if p := parseProblems(t, proxyT+"max_connections = \"many\"\n"+usersT+primaryT); p[0].Msg != `must be an integer, not a string ("many")` {
		t.Errorf("max_connections: %+v", p)
	}
}

// An item of the wrong type does not hide what is wrong with the others.
func TestArrayItemsCheckedPastABadOne(t *testing.T) {
	problems := parseProblems(t, "[proxy]\nproxy_protocol_networks = [\"bogus\", 5, \"10.0.0.0/33\", \"10.0.0.0/8\"]\n"+usersT+primaryT)
	want := []Problem{
		{Key: "proxy.proxy_protocol_networks[1]", Line: 2, Msg: "must be a string, not an integer (5)"},
		{Key: "proxy.proxy_protocol_networks", Line: 2, Msg: `"bogus", "10.0.0.0/33": not an IP address or CIDR range`},
	}
	if !reflect.DeepEqual(problems, want) {
		t.Errorf("problems:\n%v\nwant:\n%v", problems, want)
	}
}
