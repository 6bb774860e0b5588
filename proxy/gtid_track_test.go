package proxy

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// OK packets as MariaDB and MySQL send them to a primary connection set up by
// trackSession, written out byte by byte from the protocol layout. No MySQL server was at
// hand to record the MySQL ones: they follow the MySQL protocol documentation and
// go-mysql's decoder, and TestGTIDTrackLayoutMatchesGoMySQL checks them against go-mysql's
// encoder. The MariaDB path is also exercised against MariaDB 10.11 by the integration
// tests. The layout of an OK payload under CLIENT_SESSION_TRACK:
//
//	0x00                    OK header
//	lenenc int              affected rows
//	lenenc int              last insert id
//	uint16 LE               status flags (0x4000 SERVER_SESSION_STATE_CHANGED: a block follows)
//	uint16 LE               warnings
//	lenenc string           info
//	lenenc int              length of the session state block, then its entries:
//	  byte                  type
//	  lenenc int            length of the entry's data, then the data.
//
// Data of SESSION_TRACK_SYSTEM_VARIABLES (0x00): lenenc name, lenenc value (MariaDB's
// last_gtid after SET session_track_system_variables = '...,last_gtid').
// Data of SESSION_TRACK_GTIDS (0x03): one encoding specification byte (0x00: the GTIDs
// as text), then a lenenc string with the GTIDs the statement committed (MySQL after
// SET session_track_gtids = OWN_GTID). go-mysql's client/resp.go decodes the same layout.
var (
	// MariaDB, INSERT under autocommit: last_gtid = 0-1-42.
	okMariaLastGTID = []byte{
		0x00,       // OK
		0x01,       // 1 row affected
		0x00,       // last insert id 0
		0x02, 0x40, // AUTOCOMMIT | SESSION_STATE_CHANGED
		0x00, 0x00, // no warnings
		0x00, // info: ""
		0x13, // session state block: 19 bytes
		0x00, // SESSION_TRACK_SYSTEM_VARIABLES
		0x11, // 17 bytes of data
		0x09, 'l', 'a', 's', 't', '_', 'g', 't', 'i', 'd',
		0x06, '0', '-', '1', '-', '4', '2',
	}
	// MySQL 8, INSERT under autocommit: the transaction's GTID, uuid in upper case as in
	// the MySQL manual's examples.
	okMySQLOwnGTID = []byte{
		0x00,       // OK
		0x01,       // 1 row affected
		0x00,       // last insert id 0
		0x02, 0x40, // AUTOCOMMIT | SESSION_STATE_CHANGED
		0x00, 0x00, // no warnings
		0x00, // info: ""
		0x2b, // session state block: 43 bytes
		0x03, // SESSION_TRACK_GTIDS
		0x29, // 41 bytes of data
		0x00, // encoding specification: text
		0x27, // 39 bytes of GTID text
		'3', 'E', '1', '1', 'F', 'A', '4', '7', '-', '7', '1', 'C', 'A', '-', '1', '1', 'E', '1', '-',
		'9', 'E', '3', '3', '-', 'C', '8', '0', 'A', 'A', '9', '4', '2', '9', '5', '6', '2',
		':', '2', '3',
	}
	// MySQL 8, a multi-statement "USE shop; INSERT ...; INSERT ..." that committed two
	// transactions: the schema entry, then the GTIDs as a set.
	okMySQLSchemaAndSet = []byte{
		0x00,       // OK
		0x01,       // 1 row affected (the last statement)
		0x00,       // last insert id 0
		0x02, 0x40, // AUTOCOMMIT | SESSION_STATE_CHANGED
		0x00, 0x00, // no warnings
		0x00, // info: ""
		0x35, // session state block: 7 + 46 = 53 bytes
		0x01, // SESSION_TRACK_SCHEMA
		0x05, // 5 bytes of data
		0x04, 's', 'h', 'o', 'p',
		0x03, // SESSION_TRACK_GTIDS
		0x2c, // 44 bytes of data
		0x00, // encoding specification: text
		0x2a, // 42 bytes of GTID text
		'3', 'e', '1', '1', 'f', 'a', '4', '7', '-', '7', '1', 'c', 'a', '-', '1', '1', 'e', '1', '-',
		'9', 'e', '3', '3', '-', 'c', '8', '0', 'a', 'a', '9', '4', '2', '9', '5', '6', '2',
		':', '2', '4', '-', '2', '5',
	}
)

const (
	mysqlGTID23   = "3E11FA47-71CA-11E1-9E33-C80AA9429562:23"
	mysqlGTIDs245 = "3e11fa47-71ca-11e1-9e33-c80aa9429562:24-25"
)

// learnFromOK runs an OK packet through what the relay does with it (relayState.ok).
func learnFromOK(t *testing.T, s *session, bc *backendConn, p []byte) {
	t.Helper()
	ok, err := parseOK(p)
	if err != nil {
		t.Fatalf("parseOK: %v", err)
	}
	if ok.status&mysql.SERVER_SESSION_STATE_CHANGED == 0 {
		t.Fatalf("status 0x%04x: no session state change", ok.status)
	}
	block := ok.sessionTrack()
	if block == nil {
		t.Fatalf("no session state block in % x", p)
	}
	s.onSessionTrack(bc, block)
}

// TestGTIDTrackRecordedOK checks what a session learns from each flavor's OK packet of a
// write: the GTID from the primary, nothing from a replica.
func TestGTIDTrackRecordedOK(t *testing.T) {
	tests := []struct {
		name       string
		ok         []byte
		primary    bool
		wantGTID   string
		wantSchema string
	}{
		{"MariaDB last_gtid", okMariaLastGTID, true, "0-1-42", ""},
		{"MySQL SESSION_TRACK_GTIDS", okMySQLOwnGTID, true, mysqlGTID23, ""},
		{"MySQL schema and a GTID set", okMySQLSchemaAndSet, true, mysqlGTIDs245, "shop"},
		{"MariaDB last_gtid from a replica", okMariaLastGTID, false, "", ""},
		{"MySQL GTIDs from a replica", okMySQLOwnGTID, false, "", ""},
		{"MySQL schema from a replica still counts", okMySQLSchemaAndSet, false, "", "shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{srv: bareServer(Options{ReadYourWrites: true})}
			bc := &backendConn{b: &Backend{Name: "r1", Primary: tt.primary}}
			if tt.primary {
				bc.b.Name = "primary"
			}
			learnFromOK(t, s, bc, tt.ok)
			if s.writeGTID != tt.wantGTID {
				t.Errorf("writeGTID = %q, want %q", s.writeGTID, tt.wantGTID)
			}
			if got := s.view().WritePosition; got != tt.wantGTID {
				t.Errorf("the router is asked for %q, want %q", got, tt.wantGTID)
			}
			if s.state.schema != tt.wantSchema {
				t.Errorf("schema = %q, want %q", s.state.schema, tt.wantSchema)
			}
		})
	}
}

// TestGTIDTrackLayoutMatchesGoMySQL checks the hand-written MySQL block against go-mysql's
// own encoder of SESSION_TRACK_GTIDS, an independent reading of the protocol.
func TestGTIDTrackLayoutMatchesGoMySQL(t *testing.T) {
	ok, err := parseOK(okMySQLOwnGTID)
	if err != nil {
		t.Fatal(err)
	}
	want := mysql.EncodeSessionTracking(&mysql.SessionTrackingInfo{GTID: mysqlGTID23})
	if got := ok.sessionTrack(); !bytes.Equal(got, want) {
		t.Errorf("block\n % x\nwant (go-mysql)\n % x", got, want)
	}
}

// TestGTIDTrackScopes checks that a MySQL GTID reaches the wider consistency scopes too.
func TestGTIDTrackScopes(t *testing.T) {
	primary := &backendConn{b: &Backend{Name: "primary", Primary: true}}

	srv := bareServer(Options{ReadYourWrites: true, ConsistencyScope: "global"})
	learnFromOK(t, &session{srv: srv}, primary, okMySQLOwnGTID)
	other := &session{srv: srv}
	if got := other.view().WritePosition; got != mysqlGTID23 {
		t.Errorf("global scope: another session must see %q, got %q", mysqlGTID23, got)
	}

	srv = bareServer(Options{ReadYourWrites: true, ConsistencyScope: "user"})
	a := &session{srv: srv, user: "app", userWrite: srv.userWrite("app")}
	b := &session{srv: srv, user: "app", userWrite: srv.userWrite("app")}
	c := &session{srv: srv, user: "other", userWrite: srv.userWrite("other")}
	learnFromOK(t, a, primary, okMySQLOwnGTID)
	if got := b.view().WritePosition; got != mysqlGTID23 {
		t.Errorf("user scope: the same user's session must see %q, got %q", mysqlGTID23, got)
	}
	if got := c.view().WritePosition; got != "" {
		t.Errorf("user scope: another user's session sees %q", got)
	}
}

// TestGTIDTrackMalformed checks that odd SESSION_TRACK_GTIDS entries teach nothing and
// do not hide the entries around them.
func TestGTIDTrackMalformed(t *testing.T) {
	primary := &backendConn{b: &Backend{Name: "primary", Primary: true}}
	entry := func(data ...byte) []byte { return append([]byte{0x03, byte(len(data))}, data...) }
	tests := []struct {
		name  string
		block []byte
		want  string
	}{
		{"unknown encoding specification", entry(0x01, 0x03, '1', '2', '3'), ""},
		{"empty GTID text", entry(0x00, 0x00), ""},
		{"NULL GTID text", entry(0x00, 0xfb), ""},
		{"no data", entry(), ""},
		{"text longer than its entry", entry(0x00, 0x09, 'a', 'b'), ""},
		{"bad length", entry(0x00, 0xff), ""},
		{"after a bad one, a good last_gtid still counts",
			append(entry(0x00, 0x09, 'a', 'b'), trackSysVar("last_gtid", "0-1-7")...), "0-1-7"},
		{"a later GTID entry wins", append(entry(0x00, 0x03, 'u', ':', '1'), entry(0x00, 0x03, 'u', ':', '2')...), "u:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{srv: bareServer(Options{})}
			s.onSessionTrack(primary, tt.block)
			if s.writeGTID != tt.want {
				t.Errorf("writeGTID = %q, want %q", s.writeGTID, tt.want)
			}
		})
	}

	// Every truncation of a real block: no panic, and never a partial GTID.
	ok, err := parseOK(okMySQLSchemaAndSet)
	if err != nil {
		t.Fatal(err)
	}
	block := ok.sessionTrack()
	for i := range block {
		s := &session{srv: bareServer(Options{})}
		s.onSessionTrack(primary, block[:i])
		if s.writeGTID != "" {
			t.Errorf("block cut at %d of %d bytes taught %q", i, len(block), s.writeGTID)
		}
	}
}

// FuzzSessionTrackGTIDs feeds SESSION_TRACK_GTIDS-shaped blocks to the session's decoder:
// no panic, and what it learns is text of the block.
func FuzzSessionTrackGTIDs(f *testing.F) {
	for _, p := range [][]byte{okMySQLOwnGTID, okMySQLSchemaAndSet, okMariaLastGTID} {
		ok, err := parseOK(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ok.sessionTrack())
	}
	f.Add([]byte{0x03, 0x02, 0x00, 0xfb})
	f.Add([]byte{0x03, 0x04, 0x00, 0xfc, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, block []byte) {
		s := &session{srv: bareServer(Options{})}
		s.onSessionTrack(&backendConn{b: &Backend{Name: "primary", Primary: true}}, block)
		if s.writeGTID != "" && !bytes.Contains(block, []byte(s.writeGTID)) {
			t.Fatalf("learned %q, which is not in the block % x", s.writeGTID, block)
		}
	})
}
