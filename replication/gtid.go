package replication

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
)

// GTIDs in both flavors, in one model.
//
// A GTID names one transaction of one stream:
//   - MariaDB: domain-server-seq. The stream is the replication domain. Within a domain
//     sequence numbers grow and a replica applies them in order (gtid_strict_mode), so a
//     position, "applied up to seq N" per domain, says everything (@@gtid_slave_pos).
//   - MySQL: uuid:gno, or uuid:tag:gno for 8.3+ tagged GTIDs. The stream is the source
//     uuid (and tag). A server's state is a set of intervals per stream (@@gtid_executed,
//     "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100:105-110").
//
// A streamPos keeps, per stream, through: the end of the interval that starts at 1 (every
// seq in 1..through applied; MariaDB's "up to N"), and, MySQL only, the intervals applied
// past a gap. Gaps appear on multi-threaded replicas, which commit out of order unless
// replica_preserve_commit_order is on, and in sets edited by hand. Keeping the intervals
// past the gap (rather than only the prefix) keeps containment exact, which matters in two
// places: read-your-writes asks whether one GTID is in a replica's set, and a gap the
// primary itself has (every replica copies it) must not make every replica look behind
// forever. Lag is still measured from the oldest transaction the replica lacks, so a gap
// on a replica counts from the first missing transaction until it closes: the estimate is
// never lower than the truth.

// streamID names a GTID stream: a MariaDB replication domain or a MySQL source uuid (and
// tag). MySQL server uuids are never all zero (they are RFC 4122 version 1 uuids), which
// tells the flavors apart.
type streamID struct {
	domain uint32   // MariaDB replication domain; 0 on MySQL
	uuid   [16]byte // MySQL source uuid; zero on MariaDB
	tag    string   // MySQL GTID tag, lowercase; "" when untagged
}

func (k streamID) isMySQL() bool { return k.uuid != [16]byte{} }

// gtid is one transaction's GTID in either flavor.
type gtid struct {
	stream streamID
	server uint32 // MariaDB originating server id (part of the GTID's text); 0 on MySQL
	seq    uint64 // MariaDB sequence number or MySQL gno
}

// interval is the closed range of sequence numbers first..last.
type interval struct{ first, last uint64 }

// streamPos is what a server has applied of one stream: every seq in 1..through, and,
// MySQL only, the intervals in more (ascending, disjoint, not adjacent, the first starting
// after through+1). A streamPos is a value: more is never modified once built, so copies
// may share it.
type streamPos struct {
	server  uint32 // MariaDB: server id of the GTID at through (to write the position back)
	through uint64
	more    []interval
}

// contains reports whether seq is applied.
func (p streamPos) contains(seq uint64) bool {
	return p.covers(interval{seq, seq})
}

// covers reports whether every seq of iv is applied. The intervals of more are not
// adjacent to each other nor to 1..through, so a covered range lies in one of them.
func (p streamPos) covers(iv interval) bool {
	if iv.last <= p.through {
		return true
	}
	lo := max(iv.first, p.through+1)
	for _, m := range p.more {
		if m.first > lo {
			return false
		}
		if lo <= m.last {
			return iv.last <= m.last
		}
	}
	return false
}

// coversAll reports whether everything want has applied is applied in p.
func (p streamPos) coversAll(want streamPos) bool {
	if want.through > 0 && !p.covers(interval{1, want.through}) {
		return false
	}
	for _, iv := range want.more {
		if !p.covers(iv) {
			return false
		}
	}
	return true
}

// newest is the highest applied seq (0 when nothing is).
func (p streamPos) newest() uint64 {
	if n := len(p.more); n > 0 {
		return p.more[n-1].last
	}
	return p.through
}

// empty reports whether nothing is applied.
func (p streamPos) empty() bool { return p.through == 0 && len(p.more) == 0 }

// withGTID returns p with g applied. A MariaDB GTID moves the position up to its seq (the
// domain applies in order); a MySQL GTID adds that one gno.
func (p streamPos) withGTID(g gtid) streamPos {
	if !g.stream.isMySQL() {
		if g.seq > p.through {
			return streamPos{server: g.server, through: g.seq}
		}
		return p
	}
	switch {
	case g.seq <= p.through:
		return p
	case g.seq == p.through+1 && len(p.more) == 0:
		p.through = g.seq // the common case: the next transaction, no allocation
		return p
	case p.contains(g.seq):
		return p
	}
	return p.union(streamPos{more: []interval{{g.seq, g.seq}}})
}

// union returns what p and o have applied together.
func (p streamPos) union(o streamPos) streamPos {
	if len(p.more) == 0 && len(o.more) == 0 {
		if o.through > p.through {
			return o
		}
		return p
	}
	ivs := make([]interval, 0, 2+len(p.more)+len(o.more))
	for _, s := range [2]streamPos{p, o} {
		if s.through > 0 {
			ivs = append(ivs, interval{1, s.through})
		}
		ivs = append(ivs, s.more...)
	}
	slices.SortFunc(ivs, func(a, b interval) int { return cmp.Compare(a.first, b.first) })
	merged := ivs[:1]
	for _, iv := range ivs[1:] {
		top := &merged[len(merged)-1]
		if top.last == math.MaxUint64 || iv.first <= top.last+1 {
			top.last = max(top.last, iv.last)
			continue
		}
		merged = append(merged, iv)
	}
	out := streamPos{server: p.server}
	if o.through > p.through {
		out.server = o.server
	}
	if merged[0].first <= 1 {
		out.through = merged[0].last
		merged = merged[1:]
	}
	if len(merged) > 0 {
		out.more = slices.Clip(merged)
	}
	return out
}

// firstMissing returns the index of the first of seqs (ascending) that p lacks, or
// len(seqs) when it has them all.
func (p streamPos) firstMissing(seqs []uint64) int {
	if p.through == math.MaxUint64 {
		return len(seqs)
	}
	i, _ := slices.BinarySearch(seqs, p.through+1)
	for _, iv := range p.more {
		if i == len(seqs) || seqs[i] < iv.first {
			break
		}
		if seqs[i] <= iv.last {
			j, found := slices.BinarySearch(seqs[i:], iv.last)
			if found {
				j++
			}
			i += j
		}
	}
	return i
}

// position is a server's applied GTIDs, per stream, in either flavor. Positions are values
// once built: the monitor swaps whole positions and never changes one in place.
type position map[streamID]streamPos

// contains reports whether g is applied.
func (p position) contains(g gtid) bool { return p[g.stream].contains(g.seq) }

// containsAll reports whether everything want has applied is applied in p.
func (p position) containsAll(want position) bool {
	for k, w := range want {
		if !p[k].coversAll(w) {
			return false
		}
	}
	return true
}

// union returns a new position with what p and o have applied.
func (p position) union(o position) position {
	out := make(position, max(len(p), len(o)))
	for k, s := range p {
		out[k] = s
	}
	for k, s := range o {
		out[k] = out[k].union(s)
	}
	return out
}

// clone copies the map (streamPos values share their immutable intervals).
func (p position) clone() position {
	out := make(position, len(p))
	for k, s := range p {
		out[k] = s
	}
	return out
}

// String formats the position as the server does: MariaDB "0-1-42,1-2-7" (domains
// ascending), MySQL "uuid:1-100:105-110,uuid2:1-5:tag:1-3" (uuids ascending, the untagged
// intervals before the tags).
func (p position) String() string {
	keys := make([]streamID, 0, len(p))
	for k, s := range p {
		if !k.isMySQL() || !s.empty() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b streamID) int {
		if c := bytes.Compare(a.uuid[:], b.uuid[:]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.domain, b.domain); c != 0 {
			return c
		}
		return strings.Compare(a.tag, b.tag)
	})
	var b strings.Builder
	for i, k := range keys {
		s := p[k]
		if !k.isMySQL() {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(k.domain), 10))
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(uint64(s.server), 10))
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(s.through, 10))
			continue
		}
		if i == 0 || keys[i-1].uuid != k.uuid {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(formatUUID(k.uuid))
		}
		if k.tag != "" {
			b.WriteByte(':')
			b.WriteString(k.tag)
		}
		if s.through > 0 {
			writeInterval(&b, interval{1, s.through})
		}
		for _, iv := range s.more {
			writeInterval(&b, iv)
		}
	}
	return b.String()
}

func writeInterval(b *strings.Builder, iv interval) {
	b.WriteByte(':')
	b.WriteString(strconv.FormatUint(iv.first, 10))
	if iv.last != iv.first {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(iv.last, 10))
	}
}

// parsePosition parses a position in either flavor's text: a MySQL GTID set or GTID
// (anything with a ':') or a MariaDB position or GTID.
func parsePosition(s string) (position, bool) {
	if strings.Contains(s, ":") {
		return parseMySQLSet(s)
	}
	return parseMariaPos(s)
}

// parseGTID parses one GTID in either flavor's text.
func parseGTID(s string) (gtid, bool) {
	if strings.Contains(s, ":") {
		return parseMySQLGTID(s)
	}
	return parseMariaGTID(s)
}

// parseMariaGTID parses "domain-server-seq".
func parseMariaGTID(s string) (gtid, bool) {
	s = strings.TrimSpace(s)
	d, rest, ok := strings.Cut(s, "-")
	if !ok {
		return gtid{}, false
	}
	srv, seq, ok := strings.Cut(rest, "-")
	if !ok {
		return gtid{}, false
	}
	dn, err1 := strconv.ParseUint(d, 10, 32)
	sn, err2 := strconv.ParseUint(srv, 10, 32)
	qn, err3 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return gtid{}, false
	}
	return gtid{stream: streamID{domain: uint32(dn)}, server: uint32(sn), seq: qn}, true
}

// parseMariaPos parses a MariaDB GTID position ("0-1-42,1-2-7", as in @@gtid_slave_pos):
// the last GTID applied per domain. Empty means nothing applied.
func parseMariaPos(s string) (position, bool) {
	pos := position{}
	if strings.TrimSpace(s) == "" {
		return pos, true
	}
	for part := range strings.SplitSeq(s, ",") {
		g, ok := parseMariaGTID(part)
		if !ok {
			return nil, false
		}
		pos[g.stream] = streamPos{server: g.server, through: g.seq}
	}
	return pos, true
}

// parseMySQLGTID parses one MySQL GTID, "uuid:gno" or "uuid:tag:gno", without allocating
// (read-your-writes checks one on every read).
func parseMySQLGTID(s string) (gtid, bool) {
	s = strings.TrimSpace(s)
	u, rest, ok := strings.Cut(s, ":")
	if !ok {
		return gtid{}, false
	}
	id, ok := parseUUID(strings.TrimSpace(u))
	if !ok {
		return gtid{}, false
	}
	k := streamID{uuid: id}
	if t, n, ok := strings.Cut(rest, ":"); ok {
		if k.tag, ok = parseTag(t); !ok {
			return gtid{}, false
		}
		rest = n
	}
	gno, ok := parseGNO(rest)
	if !ok {
		return gtid{}, false
	}
	return gtid{stream: k, seq: gno}, true
}

// parseMySQLSet parses a MySQL GTID set as in @@gtid_executed or a session's tracked
// GTIDs: "uuid:1-100:105-110,uuid2:5" (whitespace, such as the newlines MySQL puts after
// the commas, is ignored); 8.3+ tags switch the tag of the intervals after them
// ("uuid:1-5:tag:1-3"). Empty means nothing applied.
func parseMySQLSet(s string) (position, bool) {
	pos := position{}
	if strings.TrimSpace(s) == "" {
		return pos, true
	}
	for part := range strings.SplitSeq(s, ",") {
		u, rest, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, false
		}
		id, ok := parseUUID(strings.TrimSpace(u))
		if !ok {
			return nil, false
		}
		k := streamID{uuid: id}
		intervals := 0 // since the last tag: a tag without intervals is an error, as in MySQL
		for f := range strings.SplitSeq(rest, ":") {
			f = strings.TrimSpace(f)
			if f != "" && !isDigit(f[0]) {
				if intervals == 0 && k.tag != "" {
					return nil, false
				}
				if k.tag, ok = parseTag(f); !ok {
					return nil, false
				}
				intervals = 0
				continue
			}
			iv, ok := parseInterval(f)
			if !ok {
				return nil, false
			}
			intervals++
			var sp streamPos
			if iv.first == 1 {
				sp.through = iv.last
			} else {
				sp.more = []interval{iv}
			}
			pos[k] = pos[k].union(sp)
		}
		if intervals == 0 {
			return nil, false
		}
	}
	return pos, true
}

// parseInterval parses "n" or "n-m" (1 <= n <= m).
func parseInterval(s string) (interval, bool) {
	a, b, isRange := strings.Cut(s, "-")
	first, ok := parseGNO(a)
	if !ok {
		return interval{}, false
	}
	last := first
	if isRange {
		if last, ok = parseGNO(b); !ok || last < first {
			return interval{}, false
		}
	}
	return interval{first, last}, true
}

// parseGNO parses a MySQL transaction number: 1 to 2^63-1.
func parseGNO(s string) (uint64, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 63)
	return n, err == nil && n >= 1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseTag checks and normalises a GTID tag: [a-z_][a-z0-9_]{0,31}, case-insensitive.
func parseTag(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 || isDigit(s[0]) {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // ASCII lower case
		if !(c >= 'a' && c <= 'z' || isDigit(s[i]) || s[i] == '_') {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// parseUUID parses a uuid with or without its dashes, in either case; the nil uuid is
// refused.
func parseUUID(s string) ([16]byte, bool) {
	var id [16]byte
	var buf [32]byte
	switch len(s) {
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return id, false
		}
		n := 0
		for i := 0; i < len(s); i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			buf[n] = s[i]
			n++
		}
	case 32:
		copy(buf[:], s)
	default:
		return id, false
	}
	if _, err := hex.Decode(id[:], buf[:]); err != nil {
		return id, false
	}
	return id, id != [16]byte{} // never a server's uuid, and MariaDB's streams have it
}

// formatUUID writes a uuid as MySQL does: lowercase, with dashes.
func formatUUID(id [16]byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return string(buf[:])
}
