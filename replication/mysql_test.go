package replication

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmreplication "github.com/go-mysql-org/go-mysql/replication"

	"github.com/tailgate-proxy/tailgate/router"
)

// MySQL flavor: GTID sets, containment, the timeline over uuid streams, binlog event
// decoding and the queries per flavor. No MySQL server runs here: GTID texts are as MySQL
// prints them, events are built from the binlog layout or taken from events go-mysql's
// tests recorded from real servers.

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "896e7882-18fe-11ef-ab88-22222d34d411"
)

func mustSet(t testing.TB, s string) position {
	t.Helper()
	p, ok := parseMySQLSet(s)
	if !ok {
		t.Fatalf("parseMySQLSet(%q) failed", s)
	}
	return p
}

func streamOf(t testing.TB, uuid, tag string) streamID {
	t.Helper()
	id, ok := parseUUID(uuid)
	if !ok {
		t.Fatalf("bad uuid %q", uuid)
	}
	return streamID{uuid: id, tag: tag}
}

func TestParseMySQLSet(t *testing.T) {
	tests := []struct {
		in, want string // want "" with ok=false: the text is refused
		ok       bool
	}{
		{"", "", true},
		{uuidA + ":1-100", uuidA + ":1-100", true},
		{uuidA + ":1-100:105-110", uuidA + ":1-100:105-110", true},
		{uuidA + ":23", uuidA + ":23", true},
		{uuidA + ":1", uuidA + ":1", true},
		// As @@gtid_executed prints several uuids: a newline after each comma.
		{uuidB + ":1-5,\n" + uuidA + ":1-3", uuidA + ":1-3," + uuidB + ":1-5", true},
		{strings.ToUpper(uuidA) + ":7", uuidA + ":7", true},
		{strings.ReplaceAll(uuidA, "-", "") + ":7", uuidA + ":7", true},
		{uuidA + ":1-5:6-10", uuidA + ":1-10", true},               // adjacent intervals merge
		{uuidA + ":8-12:1-3:2-9", uuidA + ":1-12", true},           // unordered, overlapping
		{uuidA + ":5-10," + uuidA + ":1-4", uuidA + ":1-10", true}, // the same uuid twice
		{uuidA + ":1-5:Tag_1:1-3:7", uuidA + ":1-5:tag_1:1-3:7", true},
		{uuidA + ":tag:4", uuidA + ":tag:4", true},
		{" " + uuidA + " : 1 - 3 ", uuidA + ":1-3", true},
		{uuidA, "", false},
		{uuidA + ":", "", false},
		{uuidA + ":0", "", false},
		{uuidA + ":5-3", "", false},
		{uuidA + ":1-x", "", false},
		{uuidA + ":tag", "", false},
		{uuidA + ":a:b:1", "", false},
		{uuidA + ":9tag:1", "", false},
		{uuidA + ":" + strings.Repeat("t", 33) + ":1", "", false},
		{uuidA + ":1,", "", false},
		{"3e11fa47-71ca-11e1-9e33:1", "", false},
		{"0-1-42", "", false},
		{"00000000-0000-0000-0000-000000000000:1", "", false},
		{uuidA + ":9223372036854775808", "", false}, // gno above 2^63-1
	}
	for _, tc := range tests {
		pos, ok := parseMySQLSet(tc.in)
		if ok != tc.ok || ok && pos.String() != tc.want {
			t.Errorf("parseMySQLSet(%q) = %q, %v; want %q, %v", tc.in, pos.String(), ok, tc.want, tc.ok)
		}
	}
}

// TestContiguousPrefix checks the reduction of a stream's set to "applied through N",
// the end of the interval that contains 1, with what lies past a gap kept aside.
func TestContiguousPrefix(t *testing.T) {
	a := streamOf(t, uuidA, "")
	tests := []struct {
		set     string
		through uint64
		more    []interval
	}{
		{uuidA + ":1-100", 100, nil},
		{uuidA + ":1-100:105-110", 100, []interval{{105, 110}}},
		{uuidA + ":1-100:105-110:200", 100, []interval{{105, 110}, {200, 200}}},
		{uuidA + ":5-10", 0, []interval{{5, 10}}}, // 1-4 purged by hand, or never there
		{uuidA + ":2:1", 2, nil},
	}
	for _, tc := range tests {
		sp := mustSet(t, tc.set)[a]
		if sp.through != tc.through || !slices.Equal(sp.more, tc.more) {
			t.Errorf("%s: through %d, more %v; want %d, %v", tc.set, sp.through, sp.more, tc.through, tc.more)
		}
	}
}

func TestParseMySQLGTID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		tag  string
		gno  uint64
		uuid string
	}{
		{uuidA + ":23", true, "", 23, uuidA},
		{"3E11FA47-71CA-11E1-9E33-C80AA9429562:23", true, "", 23, uuidA},
		{uuidB + ":Foo:7", true, "foo", 7, uuidB},
		{uuidA + ":1-5", false, "", 0, ""}, // a set, not one GTID
		{uuidA + ":0", false, "", 0, ""},
		{uuidA, false, "", 0, ""},
		{"0-1-5", false, "", 0, ""},
	} {
		g, ok := parseMySQLGTID(tc.in)
		if ok != tc.ok {
			t.Errorf("parseMySQLGTID(%q) ok = %v", tc.in, ok)
			continue
		}
		if ok && (g.stream != streamOf(t, tc.uuid, tc.tag) || g.seq != tc.gno) {
			t.Errorf("parseMySQLGTID(%q) = %+v", tc.in, g)
		}
	}
}

// TestMySQLHasApplied checks read-your-writes containment: exact, across gaps and uuids.
func TestMySQLHasApplied(t *testing.T) {
	m := NewMonitor(Options{Replicas: []Replica{{Name: "r1"}}})
	p := mustSet(t, uuidA+":1-100:105-110,"+uuidB+":1-5:t1:3-4")
	m.set.Load().byName["r1"].advance(p) // as a poll shows it
	for _, tc := range []struct {
		pos  string
		want bool
	}{
		{"", true},
		{uuidA + ":1", true},
		{uuidA + ":100", true},
		{uuidA + ":101", false}, // in the gap
		{uuidA + ":104", false},
		{uuidA + ":105", true}, // past the gap: applied out of order
		{uuidA + ":110", true},
		{uuidA + ":111", false},
		{strings.ToUpper(uuidA) + ":107", true},
		{uuidB + ":5", true},
		{uuidB + ":6", false},
		{uuidB + ":t1:3", true},
		{uuidB + ":T1:4", true},
		{uuidB + ":t1:5", false},
		{uuidB + ":t2:1", false},
		{"896e7882-18fe-11ef-ab88-000000000000:1", false}, // a uuid it has nothing of
		{uuidA + ":1-100", true},
		{uuidA + ":99-106", false}, // spans the gap
		{uuidA + ":105-110," + uuidB + ":2-3", true},
		{uuidA + ":105-111", false},
		{uuidA + ":1-100," + uuidB + ":1-6", false},
		{uuidA + ":garbage", false},
		{"0-1-1", false}, // a MariaDB GTID: no such domain here
	} {
		if got := m.HasApplied("r1", tc.pos); got != tc.want {
			t.Errorf("HasApplied(%q) = %v, want %v", tc.pos, got, tc.want)
		}
	}
	if m.HasApplied("r9", uuidA+":1") {
		t.Error("an unknown replica has applied a GTID")
	}
	// One GTID per read on the hot path: no allocation.
	q := strings.ToUpper(uuidA) + ":107"
	if n := testing.AllocsPerRun(100, func() { m.HasApplied("r1", q) }); n != 0 {
		t.Errorf("HasApplied of one MySQL GTID: %v allocations", n)
	}
}

// TestContainmentMatchesGoMySQL compares containment with go-mysql's MysqlGTIDSet.Contain
// over random sets, and the text of every set with go-mysql's.
func TestContainmentMatchesGoMySQL(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	uuids := []string{uuidA, uuidB}
	randSet := func() string {
		var parts []string
		for _, u := range uuids {
			if rng.IntN(4) == 0 {
				continue
			}
			part := u
			for n := 1 + rng.IntN(3); n > 0; n-- {
				a := uint64(1 + rng.IntN(30))
				b := a + uint64(rng.IntN(6))
				part += fmt.Sprintf(":%d-%d", a, b)
			}
			parts = append(parts, part)
		}
		return strings.Join(parts, ",")
	}
	for range 2000 {
		have, want := randSet(), randSet()
		gmHave, err1 := mysql.ParseMysqlGTIDSet(have)
		gmWant, err2 := mysql.ParseMysqlGTIDSet(want)
		if err1 != nil || err2 != nil {
			t.Fatalf("go-mysql refused %q / %q", have, want)
		}
		h, w := mustSet(t, have), mustSet(t, want)
		if got, exp := h.containsAll(w), gmHave.Contain(gmWant); got != exp {
			t.Fatalf("%q contains %q: %v, go-mysql says %v", have, want, got, exp)
		}
		if h.String() != gmHave.String() {
			t.Fatalf("%q formats as %q, go-mysql %q", have, h.String(), gmHave.String())
		}
	}
}

// TestTimelineMySQL checks lag over uuid streams: the age of the oldest transaction a
// replica has not applied, gaps included.
func TestTimelineMySQL(t *testing.T) {
	tl := newTimeline()
	base := time.Unix(1000, 0)
	a, b := streamOf(t, uuidA, ""), streamOf(t, uuidB, "")
	// The primary's state at start-up has a gap of its own (101-104 never existed here):
	// every replica copies it, so it must not count against them.
	tl.seed(mustSet(t, uuidA+":1-100:105-110,"+uuidB+":1-5"), base)
	for i := uint64(111); i <= 120; i++ {
		tl.add(gtid{stream: a, seq: i}, base.Add(time.Duration(i-110)*time.Second))
	}
	tl.add(gtid{stream: b, seq: 6}, base.Add(3500*time.Millisecond))
	tl.add(gtid{stream: a, seq: 115}, base.Add(time.Hour)) // replayed: keeps its first stamp

	if got, want := tl.newest().String(), uuidA+":1-100:105-120,"+uuidB+":1-6"; got != want {
		t.Errorf("newest = %q, want %q (where a new binlog stream starts)", got, want)
	}
	if gs, err := mysql.ParseMysqlGTIDSet(tl.newest().String()); err != nil || gs.String() != tl.newest().String() {
		t.Errorf("go-mysql reads the start position %q as %v, %v", tl.newest().String(), gs, err)
	}

	for _, tc := range []struct {
		name, pos string
		seenAt    time.Duration // offset from base; -1 = nothing unapplied
	}{
		{"caught up", uuidA + ":1-100:105-120," + uuidB + ":1-6", -1},
		{"caught up, primary's gap filled on the replica", uuidA + ":1-120," + uuidB + ":1-6", -1},
		{"behind on A", uuidA + ":1-100:105-113," + uuidB + ":1-6", 4 * time.Second},
		{"applied 114 before 112 (multi-threaded)", uuidA + ":1-100:105-111:113-114," + uuidB + ":1-6", 2 * time.Second},
		{"behind on B, older than A's", uuidA + ":1-100:105-115," + uuidB + ":1-5", 3500 * time.Millisecond},
		{"missing what was there at start-up", uuidA + ":1-100:105-109," + uuidB + ":1-6", 0},
		{"nothing", "", 0},
	} {
		checkOldestUnapplied(t, tl, tc.name, mustSet(t, tc.pos), base, tc.seenAt)
	}

	// Pruning stops at the first transaction some replica lacks, gap or not.
	tl.prune([]position{
		mustSet(t, uuidA+":1-100:105-111:113-120,"+uuidB+":1-6"),
		mustSet(t, uuidA+":1-100:105-118,"+uuidB+":1-6"),
	})
	// A keeps 111 (the last entry before 112, the first missing) and 112..120; B keeps 6.
	if n := tl.size(); n != 10+1 {
		t.Errorf("after prune %d entries, want 11", n)
	}
	if seen, _ := tl.oldestUnapplied(mustSet(t, uuidA+":1-100:105-111:113-120,"+uuidB+":1-6")); !seen.Equal(base.Add(2 * time.Second)) {
		t.Errorf("after prune oldest unapplied = %v, want %v", seen, base.Add(2*time.Second))
	}
}

// TestStateMachineMySQL drives the evaluator with MySQL positions: a replica stuck behind
// a gap lags from the first missing transaction.
func TestStateMachineMySQL(t *testing.T) {
	m := NewMonitor(Options{
		Replicas: []Replica{{Name: "r1"}},
		MaxLag:   time.Second, Recover: 500 * time.Millisecond,
		Tailer: &TailerOptions{},
	})
	v := m.set.Load().byName["r1"]
	a := streamOf(t, uuidA, "")
	base := time.Unix(2000, 0)
	for i := uint64(1); i <= 100; i++ { // a write every 20 ms
		m.tl.add(gtid{stream: a, seq: i}, base.Add(time.Duration(i)*20*time.Millisecond))
	}
	v.advance(mustSet(t, uuidA+":1-9:11-100")) // txn 10 (seen at 200 ms) not applied
	m.evaluateAt(base.Add(1300 * time.Millisecond))
	if st := m.ReplicaStatus("r1"); st.State != router.StateLagging || st.Lag != 1100*time.Millisecond {
		t.Fatalf("stuck behind a gap: %+v, want lagging by 1.1s", st)
	}
	if !m.HasApplied("r1", uuidA+":50") || m.HasApplied("r1", uuidA+":10") {
		t.Error("read-your-writes must see 50 applied and 10 not")
	}
	v.advanceGTID(gtid{stream: a, seq: 10}) // the gap closes (the replica's binlog stream)
	m.evaluateAt(base.Add(1400 * time.Millisecond))
	if st := m.ReplicaStatus("r1"); st.State != router.StateOnline || st.Lag != 0 {
		t.Fatalf("gap closed: %+v, want online", st)
	}
	if got := m.Position("r1"); got != uuidA+":1-100" {
		t.Errorf("position %q, want %s", got, uuidA+":1-100")
	}
}

// TestAdvanceMySQL checks that a replica's position only grows, from polls and from
// single transactions arriving out of order.
func TestAdvanceMySQL(t *testing.T) {
	v := newReplicaView("", "")
	a := streamOf(t, uuidA, "")
	v.advance(mustSet(t, uuidA+":1-100"))
	for _, seq := range []uint64{101, 103, 105, 102} {
		v.advanceGTID(gtid{stream: a, seq: seq})
	}
	if got, want := v.pos.Load().String(), uuidA+":1-103:105"; got != want {
		t.Errorf("after 101, 103, 105, 102: %q, want %q", got, want)
	}
	v.advance(mustSet(t, uuidA+":1-90")) // an older poll answer
	if got, want := v.pos.Load().String(), uuidA+":1-103:105"; got != want {
		t.Errorf("an older poll moved it back: %q", got)
	}
	v.advance(mustSet(t, uuidA+":1-104,"+uuidB+":1-2"))
	if got, want := v.pos.Load().String(), uuidA+":1-105,"+uuidB+":1-2"; got != want {
		t.Errorf("after a newer poll: %q, want %q", got, want)
	}
	old := v.pos.Load()
	v.advanceGTID(gtid{stream: a, seq: 50})
	if v.pos.Load() != old {
		t.Error("an applied GTID replaced the position")
	}
}

// binlogEvent builds a binlog event (v4 header) around body: timestamp, type, server id,
// event size, next position, flags.
func binlogEvent(typ gmreplication.EventType, ts uint32, body []byte) []byte {
	ev := make([]byte, eventHeaderSize, eventHeaderSize+len(body))
	binary.LittleEndian.PutUint32(ev[0:], ts)
	ev[4] = byte(typ)
	binary.LittleEndian.PutUint32(ev[5:], 1)
	binary.LittleEndian.PutUint32(ev[9:], uint32(eventHeaderSize+len(body)))
	binary.LittleEndian.PutUint32(ev[13:], 4711)
	return append(ev, body...)
}

func gtidText(g gtid) string {
	s := formatUUID(g.stream.uuid)
	if g.stream.tag != "" {
		s += ":" + g.stream.tag
	}
	return fmt.Sprintf("%s:%d", s, g.seq)
}

func TestDecodeMySQLGTIDEvent(t *testing.T) {
	id, _ := parseUUID(uuidA)
	// GTID_LOG_EVENT body as MySQL 8 writes it: flags, SID, GNO, then the logical clock
	// (type 2, last_committed, sequence_number) and fields not read here; 4 bytes of CRC32.
	body := []byte{0x01}                                          // commit flag
	body = append(body, id[:]...)                                 // SID
	body = binary.LittleEndian.AppendUint64(body, 23)             // GNO
	body = append(body, 0x02)                                     // logical timestamp type
	body = binary.LittleEndian.AppendUint64(body, 41)             // last_committed
	body = binary.LittleEndian.AppendUint64(body, 42)             // sequence_number
	body = append(body, 0x2f, 0x8e, 0x11, 0x3e, 0x78, 0xa0, 0x05) // immediate commit timestamp
	body = append(body, 0xde, 0xad, 0xbe, 0xef)                   // checksum
	raw := binlogEvent(gmreplication.GTID_EVENT, 1700000000, body)

	g, ok := decodeMySQLGTIDEvent(raw)
	if !ok || gtidText(g) != uuidA+":23" {
		t.Fatalf("decode = %s, %v; want %s:23", gtidText(g), ok, uuidA)
	}
	// go-mysql, as the tailer's syncer does in raw mode, takes the bytes as one GTID event.
	p := gmreplication.NewBinlogParser()
	p.SetRawMode(true)
	ev, err := p.Parse(raw)
	if err != nil || ev.Header.EventType != gmreplication.GTID_EVENT || ev.Header.Timestamp != 1700000000 {
		t.Fatalf("go-mysql parses the event as %v, %v", ev, err)
	}

	// A GTID event body recorded from MySQL 8.0.19 (in go-mysql's event tests), decoded
	// by us and by go-mysql.
	recorded := []byte("\x00\\\xcc\x103D\xa8\x11\xea\xbdY\x02B\xac\x19\x00\x03w\x00\x00\x00\x00\x00\x00\x00\x02x\x00\x00\x00\x00\x00\x00\x00y\x00\x00\x00\x00\x00\x00\x00j0\xb1>x\xa0\x05\xfc\xc3\x03\x938\x01\x00")
	g, ok = decodeMySQLGTIDEvent(binlogEvent(gmreplication.GTID_EVENT, 0, recorded))
	var gm gmreplication.GTIDEvent
	if err := gm.Decode(recorded); err != nil {
		t.Fatal(err)
	}
	next, _ := gm.GTIDNext()
	if !ok || gtidText(g) != "5ccc1033-44a8-11ea-bd59-0242ac190003:119" || gtidText(g) != next.String() {
		t.Errorf("recorded event: %s, %v; go-mysql %s", gtidText(g), ok, next)
	}

	for n := range eventHeaderSize + 25 {
		if _, ok := decodeMySQLGTIDEvent(raw[:n]); ok {
			t.Errorf("a %d-byte event decoded", n)
		}
	}
	zero := slices.Clone(raw)
	clear(zero[eventHeaderSize+1 : eventHeaderSize+17])
	if _, ok := decodeMySQLGTIDEvent(zero); ok {
		t.Error("an all-zero SID decoded")
	}
	noGNO := slices.Clone(raw)
	clear(noGNO[eventHeaderSize+17 : eventHeaderSize+25])
	if _, ok := decodeMySQLGTIDEvent(noGNO); ok {
		t.Error("gno 0 decoded")
	}
}

// TestDecodeMySQLTaggedGTIDEvent decodes a GTID_TAGGED_LOG_EVENT body recorded from MySQL
// 9.2 (in go-mysql's serialization tests): uuid 896e7882-..., tag "foobaz", gno 1.
func TestDecodeMySQLTaggedGTIDEvent(t *testing.T) {
	body := []byte{
		0x2, 0x76, 0x0, 0x0, 0x2, 0x2, 0x25, 0x2, 0xdc, 0xf0, 0x9, 0x2, 0x30, 0xf9, 0x3, 0x22, 0xbd, 0x3,
		0xad, 0x2, 0x21, 0x2, 0x44, 0x44, 0x5a, 0x68, 0x51, 0x3, 0x22, 0x4, 0x4, 0x6, 0xc, 0x66, 0x6f, 0x6f, 0x62,
		0x61, 0x7a, 0x8, 0x0, 0xa, 0x4, 0xc, 0x7f, 0x15, 0x83, 0x22, 0x2d, 0x5c, 0x2e, 0x6, 0x10, 0x49, 0x3, 0x12,
		0xc3, 0x2, 0xb,
	}
	want := uuidB + ":foobaz:1"
	if size, ok := serializedSize(body); !ok || size != uint64(len(body)) {
		t.Fatalf("declared size %d, %v; want %d", size, ok, len(body))
	}
	g, ok := decodeMySQLTaggedGTIDEvent(binlogEvent(gmreplication.GTID_TAGGED_LOG_EVENT, 0, body))
	if !ok || gtidText(g) != want {
		t.Fatalf("decode = %s, %v; want %s", gtidText(g), ok, want)
	}
	withCRC := binlogEvent(gmreplication.GTID_TAGGED_LOG_EVENT, 0, append(slices.Clone(body), 0x11, 0x22, 0x33, 0x44))
	if g, ok := decodeMySQLTaggedGTIDEvent(withCRC); !ok || gtidText(g) != want {
		t.Fatalf("with its checksum: %s, %v; want %s", gtidText(g), ok, want)
	}
	// The tailer then checks it against a tagged set.
	if p := mustSet(t, uuidB+":1-5:foobaz:1"); !p.contains(g) {
		t.Errorf("%s not in %s", want, p)
	}
	// Truncated: never a panic, never a GTID.
	raw := binlogEvent(gmreplication.GTID_TAGGED_LOG_EVENT, 0, body)
	for n := range raw {
		if g, ok := decodeMySQLTaggedGTIDEvent(raw[:n]); ok {
			t.Errorf("cut at %d: decoded %s", n, gtidText(g))
		}
	}
	// Multi-byte sizes: 300 is 0b100101100, stored shifted by 2 with one trailing 1 bit.
	if size, ok := serializedSize([]byte{0x02, 300<<2&0xff | 1, 300 >> 6}); !ok || size != 300 {
		t.Errorf("two-byte size = %d, %v; want 300", size, ok)
	}
}

// TestDialectFor checks which queries each server gets.
func TestDialectFor(t *testing.T) {
	tests := []struct {
		version                                string
		flavor, applied, binlog, status, ioCol string
	}{
		{"10.11.19-MariaDB-0+deb12u1-log", "mariadb", "SELECT @@gtid_slave_pos, @@GLOBAL.read_only", "SELECT @@gtid_binlog_pos", "SHOW SLAVE STATUS", "Slave_IO_Running"},
		{"5.5.5-10.11.19-MariaDB", "mariadb", "SELECT @@gtid_slave_pos, @@GLOBAL.read_only", "SELECT @@gtid_binlog_pos", "SHOW SLAVE STATUS", "Slave_IO_Running"},
		{"8.0.36", "mysql", "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.read_only", "SELECT @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed", "SHOW REPLICA STATUS", "Replica_IO_Running"},
		{"8.4.3-commercial", "mysql", "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.read_only", "SELECT @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed", "SHOW REPLICA STATUS", "Replica_IO_Running"},
		{"9.2.0", "mysql", "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.read_only", "SELECT @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed", "SHOW REPLICA STATUS", "Replica_IO_Running"},
		{"8.0.22-13", "mysql", "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.read_only", "SELECT @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed", "SHOW REPLICA STATUS", "Replica_IO_Running"},
		{"8.0.21", "mysql", "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.read_only", "SELECT @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed", "SHOW SLAVE STATUS", "Slave_IO_Running"},
		{"5.7.44-log", "mysql", "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.read_only", "SELECT @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed", "SHOW SLAVE STATUS", "Slave_IO_Running"},
	}
	for _, tc := range tests {
		d := dialectFor(tc.version)
		if d.flavor != tc.flavor || d.pollQuery != tc.applied || d.binlogQuery != tc.binlog ||
			d.statusQuery != tc.status || d.ioCol != tc.ioCol || d.sqlCol != strings.Replace(tc.ioCol, "IO", "SQL", 1) {
			t.Errorf("dialectFor(%q) = %+v", tc.version, d)
		}
	}
	// Each dialect reads its own position text.
	if p, ok := dialectFor("8.0.36").parse(uuidA + ":1-3,\n" + uuidB + ":1"); !ok || len(p) != 2 {
		t.Errorf("MySQL dialect parsed gtid_executed as %v, %v", p, ok)
	}
	if p, ok := dialectFor("10.11.19-MariaDB").parse("0-1-42,1-2-7"); !ok || p.String() != "0-1-42,1-2-7" {
		t.Errorf("MariaDB dialect parsed gtid_slave_pos as %v, %v", p, ok)
	}
}

// FuzzDecodeMySQLGTIDEvents feeds random event bytes to both MySQL GTID event decoders:
// no panic, and a decoded GTID is a valid one.
func FuzzDecodeMySQLGTIDEvents(f *testing.F) {
	id, _ := parseUUID(uuidA)
	body := append(append([]byte{0x01}, id[:]...), 23, 0, 0, 0, 0, 0, 0, 0)
	f.Add(binlogEvent(gmreplication.GTID_EVENT, 0, body))
	f.Add(binlogEvent(gmreplication.GTID_TAGGED_LOG_EVENT, 0, []byte{
		0x2, 0x76, 0x0, 0x0, 0x2, 0x2, 0x25, 0x2, 0xdc, 0xf0, 0x9, 0x2, 0x30, 0xf9, 0x3, 0x22, 0xbd, 0x3,
		0xad, 0x2, 0x21, 0x2, 0x44, 0x44, 0x5a, 0x68, 0x51, 0x3, 0x22, 0x4, 0x4, 0x6, 0xc, 0x66, 0x6f, 0x6f, 0x62,
		0x61, 0x7a, 0x8, 0x0, 0xa, 0x4, 0xc, 0x7f, 0x15, 0x83, 0x22, 0x2d, 0x5c, 0x2e, 0x6, 0x10, 0x49, 0x3, 0x12,
		0xc3, 0x2, 0xb,
	}))
	f.Add(make([]byte, eventHeaderSize+3))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, decode := range []func([]byte) (gtid, bool){decodeMySQLGTIDEvent, decodeMySQLTaggedGTIDEvent} {
			g, ok := decode(raw)
			if !ok {
				continue
			}
			if !g.stream.isMySQL() || g.seq == 0 {
				t.Fatalf("decoded an invalid GTID %+v", g)
			}
			if back, ok := parseMySQLGTID(gtidText(g)); !ok || back != g {
				t.Fatalf("%s does not read back: %+v, %v", gtidText(g), back, ok)
			}
		}
	})
}

// FuzzParseMySQLSet feeds random GTID set text (as servers report it) to the parser: no
// panic, and an accepted set formats to a canonical text that reads back to itself.
func FuzzParseMySQLSet(f *testing.F) {
	for _, s := range []string{"", uuidA + ":1-100:105-110,\n" + uuidB + ":1-5", uuidA + ":1-5:tag:1-3:7", uuidA + ":23"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parseMySQLSet(s)
		if !ok {
			return
		}
		text := p.String()
		q, ok := parseMySQLSet(text)
		if !ok || q.String() != text || !p.containsAll(q) || !q.containsAll(p) {
			t.Fatalf("%q formats as %q, which reads back as %q (%v)", s, text, q.String(), ok)
		}
	})
}
