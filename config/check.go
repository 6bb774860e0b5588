package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Check validates c and returns an *Errors listing every problem, or nil. Lines are
// known for configs that came from Parse or Load.
//
// Check sees passwords as they are after loading (password_file already read), so
// "password and password_file both set" and unreadable files are reported by Parse,
// not here.
func (c *Config) Check() error {
	v := &checker{lines: c.lines}
	v.proxy(&c.Proxy)
	v.admin(c.Admin, c.Proxy.Listen)
	v.metrics(c.Metrics, c.Proxy.Listen, c.Admin)
	v.users(c.Users)
	v.backends(&c.Primary, c.Replicas)
	v.replication(c.Replication)
	if c.Primary.FollowPromotion {
		switch {
		case c.Replication == nil:
			v.add("primary.follow_promotion", "needs [replication]: its account reads each server's read_only and replication status")
		case len(c.Replicas) == 0:
			v.add("primary.follow_promotion", "needs [[replicas]]: only a listed replica can be followed as the new primary")
		}
	}
	v.lag(&c.Lag)
	v.rules(c.Rules)
	v.oneOf("consistency.scope", c.Consistency.Scope, []string{ScopeSession, ScopeUser, ScopeGlobal})
	if wait := c.Consistency.ReplicaWait; v.notNegative("consistency.replica_wait", wait) {
		switch read := c.Proxy.BackendReadTimeout; {
		case wait.Duration > time.Minute:
			v.add("consistency.replica_wait", "%s is above 1m: a read would hold its client that long", wait)
		case read.Duration > 0 && wait.Duration >= read.Duration:
			v.add("consistency.replica_wait", "%s is not below proxy.backend_read_timeout (%s), which would cut every long wait off as a failed replica", wait, read)
		}
	}
	v.log(&c.Log)
	v.notNegative("log.slow_statement", c.Log.SlowStatement)
	if len(v.problems) == 0 {
		return nil
	}
	sortProblems(v.problems)
	return &Errors{Path: c.Path, Problems: v.problems}
}

type checker struct {
	lines    keyLines
	problems []Problem
}

func (v *checker) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: key, Line: v.lines.line(key), Msg: fmt.Sprintf(format, args...)})
}

func (v *checker) proxy(p *Proxy) {
	v.listenAddress("proxy.listen", p.Listen)
	if p.Socket != "" {
		v.socketPath("proxy.socket", p.Socket)
	}
	if p.MaxConnections < 1 {
		v.add("proxy.max_connections", "must be >= 1, not %d", p.MaxConnections)
	}
	if p.MaxAuthFailures < 0 {
		v.add("proxy.max_auth_failures", "must be >= 0, not %d", p.MaxAuthFailures)
	}
	if p.MaxBackendConnections < 1 {
		v.add("proxy.max_backend_connections", "must be >= 1, not %d", p.MaxBackendConnections)
	}
	v.positive("proxy.handshake_timeout", p.HandshakeTimeout)
	v.notNegative("proxy.shutdown_timeout", p.ShutdownTimeout)
	v.notNegative("proxy.primary_wait", p.PrimaryWait)
	v.positive("proxy.backend_connect_timeout", p.BackendConnectTimeout)
	v.notNegative("proxy.backend_read_timeout", p.BackendReadTimeout)
	if p.MaxAllowedPacket < KiB || p.MaxAllowedPacket > GiB {
		v.add("proxy.max_allowed_packet", "must be from 1KiB to 1GiB, not %s", p.MaxAllowedPacket)
	}
	if _, err := ParseNetworks(p.ProxyProtocolNetworks); err != nil {
		v.add("proxy.proxy_protocol_networks", "%v", err)
	}
	if t := p.TLS; t != nil {
		if t.Cert == "" {
			v.add("proxy.tls.cert", "required: the certificate file to present to clients")
		}
		if t.Key == "" {
			v.add("proxy.tls.key", "required: the private key file of proxy.tls.cert")
		}
		if t.MinVersion != TLSVersion12 && t.MinVersion != TLSVersion13 {
			v.add("proxy.tls.min_version", "must be %q or %q, not %q", TLSVersion12, TLSVersion13, t.MinVersion)
		}
	}
}

// ParseNetworks reads IP addresses ("10.0.0.5", a single-address range) and CIDR ranges
// ("10.0.0.0/8", "fd00::/8"), naming every entry that is neither.
func ParseNetworks(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(e); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else {
			bad = append(bad, strconv.Quote(e))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: not an IP address or CIDR range", strings.Join(bad, ", "))
	}
	return out, nil
}

func (v *checker) admin(a *Admin, proxyListen string) {
	if a == nil {
		return
	}
	if v.listenAddress("admin.listen", a.Listen) {
		host, _, _ := net.SplitHostPort(a.Listen)
		if !a.AllowRemote && !IsLoopback(host) {
			v.add("admin.listen", "%q is not a loopback address: set allow_remote = true to expose the admin interface", a.Listen)
		}
		if sameAddress(a.Listen, proxyListen) {
			v.add("admin.listen", "%q is also proxy.listen", a.Listen)
		}
	}
	if a.User == "" {
		v.add("admin.user", "required")
	}
	if a.Password == "" {
		v.add("admin.password", "required: set password or password_file (there is no default admin password)")
	}
}

func (v *checker) metrics(m *Metrics, proxyListen string, a *Admin) {
	if m == nil {
		return
	}
	if v.listenAddress("metrics.listen", m.Listen) {
		if sameAddress(m.Listen, proxyListen) {
			v.add("metrics.listen", "%q is also proxy.listen", m.Listen)
		}
		if a != nil && sameAddress(m.Listen, a.Listen) {
			v.add("metrics.listen", "%q is also admin.listen", m.Listen)
		}
	}
}

// entryName checks the name of entry i of the array of tables array: required, and unique
// among names (the names seen so far, with their index; the name is added).
func (v *checker) entryName(array, noun string, i int, name string, names map[string]int) {
	key := indexKey(array, i) + ".name"
	switch j, dup := names[name]; {
	case name == "":
		v.add(key, "required")
	case dup:
		v.add(key, "duplicate %s %q (also %s[%d])", noun, name, array, j)
	default:
		names[name] = i
	}
}

func (v *checker) rules(rules []Rule) {
	names := map[string]int{}
	for i, r := range rules {
		key := indexKey("rules", i)
		v.entryName("rules", "rule", i, r.Name, names)
		if r.Match == "" {
			v.add(key+".match", "required: a regular expression searched in the statement digest (as SHOW DIGESTS shows it)")
		} else if _, err := regexp.Compile(r.Match); err != nil {
			v.add(key+".match", "not a valid regular expression: %v", err)
		}
		if r.Target != "" {
			v.oneOf(key+".target", r.Target, []string{RuleTargetPrimary, RuleTargetReplica})
		}
		v.notNegative(key+".max_lag", r.MaxLag)
		if r.Target == "" && r.MaxLag.Duration == 0 {
			v.add(key, "sets neither target nor max_lag: it would change nothing")
		}
	}
}

func (v *checker) users(users []User) {
	if len(users) == 0 {
		v.add("users", "at least one [[users]] entry is required")
	}
	names := map[string]int{}
	for i, u := range users {
		key := indexKey("users", i)
		v.entryName("users", "user", i, u.Name, names)
		if u.Password == "" {
			v.add(key+".password", "required: set password or password_file")
		}
		if u.AuthPlugin != "" && u.AuthPlugin != AuthNativePassword && u.AuthPlugin != AuthCachingSHA2Password {
			v.add(key+".auth_plugin", "must be %q or %q, not %q", AuthNativePassword, AuthCachingSHA2Password, u.AuthPlugin)
		}
	}
}

func (v *checker) backends(primary *Primary, replicas []Replica) {
	// addresses maps a normalized address to the backend that has it.
	addresses := map[string]string{}
	if v.backendAddress("primary.address", primary.Address) {
		addresses[normalizeAddress(primary.Address)] = "primary"
	}
	v.socketTLS("primary", primary.Address, primary.TLS)
	names := map[string]int{}
	for i, r := range replicas {
		key := indexKey("replicas", i)
		if r.Name == PrimaryName {
			v.add(key+".name", "%q is reserved for the primary", r.Name)
		} else {
			v.entryName("replicas", "replica", i, r.Name, names)
		}
		if v.backendAddress(key+".address", r.Address) {
			n := normalizeAddress(r.Address)
			if other, dup := addresses[n]; dup {
				v.add(key+".address", "%q is also the address of %s", r.Address, other)
			} else {
				addresses[n] = key
			}
		}
		v.socketTLS(key, r.Address, r.TLS)
		if r.Weight < 1 {
			v.add(key+".weight", "weight must be >= 1, not %d", r.Weight)
		}
	}
}

func (v *checker) replication(r *Replication) {
	if r == nil {
		return
	}
	if r.User == "" {
		v.add("replication.user", "required")
	}
	if r.ServerID == 0 {
		v.add("replication.server_id", "must not be 0: pick an id unique among the cluster's server ids")
	}
}

func (v *checker) lag(l *Lag) {
	okMax := v.notNegative("lag.max", l.Max)
	okRecover := v.notNegative("lag.recover", l.Recover)
	if okMax && okRecover && l.Recover.Duration > l.Max.Duration {
		v.add("lag.recover", "%s is above lag.max (%s): a replica is re-admitted once its lag falls below recover, so recover must be <= max", l.Recover, l.Max)
	}
	v.positive("lag.poll_interval", l.PollInterval)
	if l.OnAllStale != OnAllStalePrimary && l.OnAllStale != OnAllStaleError {
		v.add("lag.on_all_stale", "must be %q or %q, not %q", OnAllStalePrimary, OnAllStaleError, l.OnAllStale)
	}
}

var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

func (v *checker) log(l *Log) {
	v.oneOf("log.level", l.Level, logLevels)
	v.oneOf("log.format", l.Format, logFormats)
}

func (v *checker) oneOf(key, value string, set []string) {
	for _, s := range set {
		if value == s {
			return
		}
	}
	v.add(key, "must be one of %s, not %q", strings.Join(set, "|"), value)
}

func (v *checker) notNegative(key string, d Duration) bool {
	if d.Duration < 0 {
		v.add(key, "must not be negative (%s)", d)
		return false
	}
	return true
}

func (v *checker) positive(key string, d Duration) {
	if d.Duration <= 0 {
		v.add(key, "must be above 0, not %s", d)
	}
}

// listenAddress checks a host:port to listen on; the host may be empty (every
// interface). It reports whether the address is valid.
func (v *checker) listenAddress(key, addr string) bool {
	if addr == "" {
		v.add(key, "required: a host:port to listen on")
		return false
	}
	if err := checkPort(addr, 0); err != nil {
		v.add(key, "%v", err)
		return false
	}
	return true
}

// backendAddress checks a host:port or unix socket path to connect to. It reports
// whether the address is valid.
func (v *checker) backendAddress(key, addr string) bool {
	if addr == "" {
		v.add(key, "required: the server's host:port, or the path of its unix socket")
		return false
	}
	if isSocketPath(addr) {
		return v.socketPath(key, addr)
	}
	if err := checkAddress(addr); err != nil {
		v.add(key, "%v (or the absolute path of a unix socket)", err)
		return false
	}
	if host, _, _ := net.SplitHostPort(addr); host == "" {
		v.add(key, "%q has no host", addr)
		return false
	}
	return true
}

// isSocketPath tells a unix socket path from a host:port: a host:port never has a "/"
// (go-mysql draws the same line when it dials).
func isSocketPath(addr string) bool { return strings.Contains(addr, "/") }

// maxSocketPath is the longest unix socket path Linux takes (sun_path is 108 bytes).
const maxSocketPath = 107

// socketPath checks a unix socket path. It reports whether the path is valid.
func (v *checker) socketPath(key, path string) bool {
	switch {
	case !filepath.IsAbs(path):
		v.add(key, "%q: a unix socket path must be absolute", path)
	case len(path) > maxSocketPath:
		v.add(key, "%q is %d bytes long; a unix socket path has at most %d", path, len(path), maxSocketPath)
	default:
		return true
	}
	return false
}

// socketTLS refuses TLS towards a backend reached over its unix socket: the bytes never
// leave the host, and a certificate names no path to verify.
func (v *checker) socketTLS(key, addr string, t *BackendTLS) {
	if t != nil && isSocketPath(addr) {
		v.add(key+".tls", "TLS is not used over a unix socket (%s): remove this table or use a host:port address", addr)
	}
}

// checkAddress accepts host:port with a numeric port from 1 to 65535.
func checkAddress(addr string) error { return checkPort(addr, 1) }

// checkPort accepts host:port with a numeric port from minPort to 65535 (a listen
// address may use port 0: any free port).
func checkPort(addr string, minPort int) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("%q is not host:port: %s", addr, ae.Err)
		}
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < minPort || n > 65535 {
		return fmt.Errorf("%q: port must be a number from %d to 65535", addr, minPort)
	}
	return nil
}

// IsLoopback reports whether host only reaches this machine: "localhost" or an
// address in 127.0.0.0/8 or ::1. An empty host or 0.0.0.0 listens on every
// interface; other host names are not resolved (a name is not trusted to stay
// loopback), so they count as remote.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// normalizeAddress gives equal strings for the same host:port or socket path written
// differently ("[::1]:3306" and "[0:0::1]:03306", "DB:3306" and "db:3306", "/run//a.sock"
// and "/run/a.sock"). Host names are not resolved, nor symbolic links. addr must have
// passed backendAddress.
func normalizeAddress(addr string) string {
	if isSocketPath(addr) {
		return filepath.Clean(addr)
	}
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n))
}

// sameAddress reports whether two valid listen addresses are the same host:port.
func sameAddress(a, b string) bool {
	if checkAddress(a) != nil || checkAddress(b) != nil {
		return false
	}
	return normalizeAddress(a) == normalizeAddress(b)
}
