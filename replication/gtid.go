package replication

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// mariaGTID is one MariaDB GTID: domain-server-sequence.
type mariaGTID struct {
	domain uint32
	server uint32
	seq    uint64
}

// parseMariaGTID parses "domain-server-seq".
func parseMariaGTID(s string) (mariaGTID, bool) {
	s = strings.TrimSpace(s)
	d, rest, ok := strings.Cut(s, "-")
	if !ok {
		return mariaGTID{}, false
	}
	srv, seq, ok := strings.Cut(rest, "-")
	if !ok {
		return mariaGTID{}, false
	}
	dn, err1 := strconv.ParseUint(d, 10, 32)
	sn, err2 := strconv.ParseUint(srv, 10, 32)
	qn, err3 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return mariaGTID{}, false
	}
	return mariaGTID{domain: uint32(dn), server: uint32(sn), seq: qn}, true
}

// mariaPos is a MariaDB GTID position: the last GTID applied per replication domain
// (as in @@gtid_slave_pos, "0-1-42,1-2-7").
type mariaPos map[uint32]mariaGTID

// parseMariaPos parses a comma-separated GTID position; empty means nothing applied.
func parseMariaPos(s string) (mariaPos, bool) {
	pos := mariaPos{}
	if strings.TrimSpace(s) == "" {
		return pos, true
	}
	for _, part := range strings.Split(s, ",") {
		g, ok := parseMariaGTID(part)
		if !ok {
			return nil, false
		}
		pos[g.domain] = g
	}
	return pos, true
}

// contains reports whether the position includes g: within a domain, sequence numbers
// grow monotonically under gtid_strict_mode, so "applied up to seq N" covers every
// GTID of that domain with a sequence <= N.
func (p mariaPos) contains(g mariaGTID) bool {
	have, ok := p[g.domain]
	return ok && have.seq >= g.seq
}

// containsAll reports whether p includes every GTID of want.
func (p mariaPos) containsAll(want mariaPos) bool {
	for _, g := range want {
		if !p.contains(g) {
			return false
		}
	}
	return true
}

// String formats the position as MariaDB does, domains in ascending order.
func (p mariaPos) String() string {
	domains := make([]uint32, 0, len(p))
	for d := range p {
		domains = append(domains, d)
	}
	slices.Sort(domains)
	var b strings.Builder
	for i, d := range domains {
		if i > 0 {
			b.WriteByte(',')
		}
		g := p[d]
		fmt.Fprintf(&b, "%d-%d-%d", g.domain, g.server, g.seq)
	}
	return b.String()
}
