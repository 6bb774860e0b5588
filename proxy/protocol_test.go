package proxy

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/router"
)

// lenEnc encodes v as a length-encoded integer in its shortest form.
func lenEnc(v uint64) []byte {
	switch {
	case v < 251:
		return []byte{byte(v)}
	case v < 1<<16:
		return []byte{0xfc, byte(v), byte(v >> 8)}
	case v < 1<<24:
		return []byte{0xfd, byte(v), byte(v >> 8), byte(v >> 16)}
	}
	b := []byte{0xfe, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint64(b[1:], v)
	return b
}

// lenEncStr encodes s as a length-encoded string.
func lenEncStr(s string) []byte { return append(lenEnc(uint64(len(s))), s...) }

// okPkt builds an OK packet payload. With track, the info is length-encoded (the layout
// under CLIENT_SESSION_TRACK) and block, when not nil, is the session state block.
type okPkt struct {
	header        byte // 0x00, or 0xFE for an OK that ends a result set
	affected, ins uint64
	status        uint16
	warnings      uint16
	info          string
	track         bool
	block         []byte
}

func (o okPkt) bytes() []byte {
	p := []byte{o.header} // zero value: mysql.OK_HEADER
	p = append(p, lenEnc(o.affected)...)
	p = append(p, lenEnc(o.ins)...)
	p = binary.LittleEndian.AppendUint16(p, o.status)
	p = binary.LittleEndian.AppendUint16(p, o.warnings)
	if !o.track {
		return append(p, o.info...)
	}
	p = append(p, lenEncStr(o.info)...)
	if o.block != nil {
		p = append(p, lenEnc(uint64(len(o.block)))...)
		p = append(p, o.block...)
	}
	return p
}

// trackSysVar is one SESSION_TRACK_SYSTEM_VARIABLES entry.
func trackSysVar(name, value string) []byte {
	data := append(lenEncStr(name), lenEncStr(value)...)
	return append(append([]byte{0x00}, lenEnc(uint64(len(data)))...), data...)
}

// trackSchema is one SESSION_TRACK_SCHEMA entry.
func trackSchema(name string) []byte {
	data := lenEncStr(name)
	return append(append([]byte{0x01}, lenEnc(uint64(len(data)))...), data...)
}

const stateChanged = mysql.SERVER_SESSION_STATE_CHANGED

func TestReadLenEnc(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		v    uint64
		n    int
		ok   bool
	}{
		{"zero", []byte{0x00}, 0, 1, true},
		{"one byte max", []byte{0xfa}, 250, 1, true},
		{"one byte with trailing data", []byte{0x07, 0xff, 0xff}, 7, 1, true},
		{"NULL", []byte{0xfb}, 0, 1, true},
		{"two bytes", []byte{0xfc, 0x34, 0x12}, 0x1234, 3, true},
		{"two bytes 251", []byte{0xfc, 0xfb, 0x00}, 251, 3, true},
		{"three bytes", []byte{0xfd, 0x56, 0x34, 0x12}, 0x123456, 4, true},
		{"eight bytes", []byte{0xfe, 1, 2, 3, 4, 5, 6, 7, 8}, 0x0807060504030201, 9, true},
		{"eight bytes max", []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1<<64 - 1, 9, true},
		{"0xff is not a length", []byte{0xff, 0, 0}, 0, 0, false},
		{"empty", nil, 0, 0, false},
		{"two bytes short by one", []byte{0xfc, 0x01}, 0, 0, false},
		{"two bytes short by two", []byte{0xfc}, 0, 0, false},
		{"three bytes short", []byte{0xfd, 1, 2}, 0, 0, false},
		{"eight bytes short", []byte{0xfe, 1, 2, 3, 4, 5, 6, 7}, 0, 0, false},
		{"eight bytes header only", []byte{0xfe}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, n, ok := readLenEnc(tt.in)
			if v != tt.v || n != tt.n || ok != tt.ok {
				t.Errorf("readLenEnc(% x) = (%d, %d, %v), want (%d, %d, %v)", tt.in, v, n, ok, tt.v, tt.n, tt.ok)
			}
		})
	}
}

// TestReadLenEncRoundTripAndPrefixes encodes values of every width and checks that every
// strict prefix of an encoding is rejected without a panic.
func TestReadLenEncRoundTripAndPrefixes(t *testing.T) {
	for _, v := range []uint64{0, 1, 250, 251, 252, 0xffff, 0x10000, 0xffffff, 0x1000000, 1<<32 + 5, 1<<64 - 1} {
		enc := lenEnc(v)
		got, n, ok := readLenEnc(append(enc, 0xaa, 0xbb)) // trailing bytes are not consumed
		if !ok || got != v || n != len(enc) {
			t.Errorf("readLenEnc(lenEnc(%d)) = (%d, %d, %v), want (%d, %d, true)", v, got, n, ok, v, len(enc))
		}
		for i := 0; i < len(enc); i++ {
			if i == 0 && len(enc) == 1 {
				continue
			}
			if _, n, ok := readLenEnc(enc[:i]); ok || n != 0 {
				t.Errorf("readLenEnc(% x) (prefix of %d) = (_, %d, %v), want not ok", enc[:i], v, n, ok)
			}
		}
	}
}

func TestParseOK(t *testing.T) {
	longInfo := string(bytes.Repeat([]byte("x"), 300))
	tests := []struct {
		name       string
		in         []byte
		affected   uint64
		insertID   uint64
		status     uint16
		warnings   uint16
		rest       []byte
		restOffset int
	}{
		{"minimal", []byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}, 0, 0, 2, 0, []byte{}, 7},
		{"values", okPkt{affected: 3, ins: 42, status: 0x0003, warnings: 2}.bytes(), 3, 42, 3, 2, []byte{}, 7},
		{"wide values", okPkt{affected: 70000, ins: 1 << 40, status: 0x0002, warnings: 0xffff}.bytes(), 70000, 1 << 40, 2, 0xffff, []byte{}, 1 + 4 + 9 + 4},
		{"info without session tracking", okPkt{affected: 1, status: 2, info: "Rows matched: 1  Changed: 1  Warnings: 0"}.bytes(),
			1, 0, 2, 0, []byte("Rows matched: 1  Changed: 1  Warnings: 0"), 7},
		{"session track, no state change", okPkt{affected: 1, status: 2, info: "hi", track: true}.bytes(), 1, 0, 2, 0, []byte("\x02hi"), 7},
		{"session track with state", okPkt{affected: 1, ins: 9, status: 2 | stateChanged, track: true, block: trackSysVar("last_gtid", "0-1-42")}.bytes(),
			1, 9, 2 | stateChanged, 0, append([]byte{0x00}, append(lenEnc(uint64(len(trackSysVar("last_gtid", "0-1-42")))), trackSysVar("last_gtid", "0-1-42")...)...), 7},
		{"long info", okPkt{status: 2, info: longInfo, track: true}.bytes(), 0, 0, 2, 0, lenEncStr(longInfo), 7},
		{"0xFE header (OK ending a result set)", okPkt{header: mysql.EOF_HEADER, status: 0x22}.bytes(), 0, 0, 0x22, 0, []byte{}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := parseOK(tt.in)
			if err != nil {
				t.Fatalf("parseOK(% x): %v", tt.in, err)
			}
			if ok.affectedRows != tt.affected || ok.insertID != tt.insertID || ok.status != tt.status || ok.warnings != tt.warnings {
				t.Errorf("parseOK = affected %d, insert id %d, status %#x, warnings %d; want %d, %d, %#x, %d",
					ok.affectedRows, ok.insertID, ok.status, ok.warnings, tt.affected, tt.insertID, tt.status, tt.warnings)
			}
			if !bytes.Equal(ok.rest, tt.rest) || ok.restOffset != tt.restOffset {
				t.Errorf("rest = % x at %d, want % x at %d", ok.rest, ok.restOffset, tt.rest, tt.restOffset)
			}
			if !bytes.Equal(tt.in[ok.restOffset:], ok.rest) {
				t.Errorf("rest does not alias payload[restOffset:]")
			}
		})
	}
}

func TestParseOKMalformed(t *testing.T) {
	full := okPkt{affected: 1 << 20, ins: 1 << 40, status: 2, warnings: 1}.bytes()
	// Every strict prefix of a full OK packet is malformed (the status and warnings are required).
	for i := 0; i < len(full); i++ {
		if _, err := parseOK(full[:i]); err == nil {
			t.Errorf("parseOK(% x) (prefix %d of %d): no error", full[:i], i, len(full))
		}
	}
	for _, in := range [][]byte{
		{0x00, 0xff, 0x00, 0x02, 0x00, 0x00, 0x00}, // 0xff is not a length
		{0x00, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00},
	} {
		if _, err := parseOK(in); err == nil {
			t.Errorf("parseOK(% x): no error", in)
		}
	}
}

func TestSessionTrack(t *testing.T) {
	gtid := trackSysVar("last_gtid", "0-1-42")
	two := append(append([]byte{}, trackSchema("shop")...), gtid...)
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"state changed", okPkt{status: 2 | stateChanged, track: true, block: gtid}.bytes(), gtid},
		{"state changed with info", okPkt{affected: 1, status: 2 | stateChanged, info: "Rows matched: 1", track: true, block: two}.bytes(), two},
		{"no state change flag", okPkt{status: 2, track: true, info: "x"}.bytes(), nil},
		{"flag set but no block", okPkt{status: 2 | stateChanged, track: true}.bytes(), nil},
		{"flag set, empty rest", okPkt{status: 2 | stateChanged}.bytes(), nil},
		{"info longer than packet", append(okPkt{status: 2 | stateChanged}.bytes(), 0x10, 'a'), nil},
		{"block longer than packet", append(okPkt{status: 2 | stateChanged}.bytes(), 0x00, 0x20, 0x00), nil},
		{"bad info length", append(okPkt{status: 2 | stateChanged}.bytes(), 0xff), nil},
		{"truncated block length", append(okPkt{status: 2 | stateChanged}.bytes(), 0x00, 0xfc, 0x01), nil},
		{"empty block", okPkt{status: 2 | stateChanged, track: true, block: []byte{}}.bytes(), []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := parseOK(tt.in)
			if err != nil {
				t.Fatalf("parseOK: %v", err)
			}
			got := ok.sessionTrack()
			if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("sessionTrack() = % x, want % x", got, tt.want)
			}
		})
	}
}

// TestOnSessionTrack checks what a session learns from a session state block: the schema
// and, from the primary only, the GTID of the last write.
func TestOnSessionTrack(t *testing.T) {
	newSess := func() *session { return &session{srv: bareServer(Options{})} }
	primary := &backendConn{b: &Backend{Name: "primary", Primary: true}}
	replica := &backendConn{b: &Backend{Name: "r1"}}

	s := newSess()
	block := append(append(trackSchema("shop"), trackSysVar("autocommit", "ON")...), trackSysVar("last_gtid", "0-1-42")...)
	s.onSessionTrack(primary, block)
	if s.state.schema != "shop" || primary.schema != "shop" {
		t.Errorf("schema = %q / %q, want shop", s.state.schema, primary.schema)
	}
	if s.writeGTID != "0-1-42" {
		t.Errorf("writeGTID = %q, want 0-1-42", s.writeGTID)
	}

	s = newSess()
	s.onSessionTrack(replica, trackSysVar("last_gtid", "0-1-43"))
	if s.writeGTID != "" {
		t.Errorf("a replica's last_gtid became the write position %q", s.writeGTID)
	}

	s = newSess()
	s.onSessionTrack(primary, trackSysVar("last_gtid", ""))
	if s.writeGTID != "" {
		t.Errorf("an empty last_gtid became the write position %q", s.writeGTID)
	}

	// A truncated last entry is ignored, the ones before it still count.
	s = newSess()
	trunc := append(trackSchema("db1"), 0x00, 0x30, 0x01)
	s.onSessionTrack(primary, trunc)
	if s.state.schema != "db1" {
		t.Errorf("schema = %q, want db1", s.state.schema)
	}
}

// TestSessionTrackSQLMode: the session follows the sql_mode any backend reports, composite
// modes included; other variables leave it alone.
func TestSessionTrackSQLMode(t *testing.T) {
	s := &session{srv: bareServer(Options{})}
	replica := &backendConn{b: &Backend{Name: "r1"}}
	for _, tc := range []struct {
		value string
		want  router.SQLMode
	}{
		{"ANSI_QUOTES,STRICT_TRANS_TABLES", router.ModeANSIQuotes},
		{"REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI", router.ModeANSIQuotes},
		{"NO_BACKSLASH_ESCAPES,ANSI_QUOTES", router.ModeANSIQuotes | router.ModeNoBackslashEscapes},
		{"STRICT_TRANS_TABLES,ANSI_QUOTES_X,XANSI_QUOTES", 0},
		{"", 0},
		{"ANSI_QUOTES", router.ModeANSIQuotes},
	} {
		s.onSessionTrack(replica, trackSysVar("sql_mode", tc.value))
		if s.sqlMode != tc.want {
			t.Errorf("sql_mode %q: mode %b, want %b", tc.value, s.sqlMode, tc.want)
		}
	}
	s.onSessionTrack(replica, trackSysVar("time_zone", "+02:00"))
	if s.sqlMode != router.ModeANSIQuotes {
		t.Errorf("another variable changed the mode to %b", s.sqlMode)
	}
}

func TestStripSessionTrack(t *testing.T) {
	tests := []struct {
		name string
		in   okPkt
	}{
		{"tracked with gtid and info", okPkt{affected: 3, ins: 7, status: 0x0003 | stateChanged, warnings: 2,
			info: "Records: 3  Duplicates: 0  Warnings: 2", track: true, block: trackSysVar("last_gtid", "0-1-99")}},
		{"tracked, schema only, no info", okPkt{affected: 0, status: 0x0002 | stateChanged, track: true, block: trackSchema("shop")}},
		{"no state change, info", okPkt{affected: 1, status: 0x0002, info: "Rows matched: 1  Changed: 1  Warnings: 0", track: true}},
		{"no state change, no info", okPkt{affected: 5, ins: 1 << 33, status: 0x0022, warnings: 1}},
		{"wide values", okPkt{affected: 1 << 40, ins: 70000, status: 0x0001 | stateChanged, warnings: 0xffff,
			info: string(bytes.Repeat([]byte("i"), 300)), track: true, block: trackSysVar("last_gtid", "0-1-1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in.bytes()
			orig := append([]byte(nil), in...)
			dst := bytes.Repeat([]byte{0xee}, 64) // reused buffer with stale content
			out, err := stripSessionTrack(dst, in)
			if err != nil {
				t.Fatalf("stripSessionTrack: %v", err)
			}
			if !bytes.Equal(in, orig) {
				t.Errorf("the input packet was modified")
			}
			want := okPkt{affected: tt.in.affected, ins: tt.in.ins, status: tt.in.status &^ stateChanged,
				warnings: tt.in.warnings, info: tt.in.info}.bytes()
			if !bytes.Equal(out, want) {
				t.Errorf("stripSessionTrack =\n% x\nwant\n% x", out, want)
			}
			ok, err := parseOK(out)
			if err != nil {
				t.Fatalf("parseOK(stripped): %v", err)
			}
			if ok.affectedRows != tt.in.affected || ok.insertID != tt.in.ins || ok.warnings != tt.in.warnings {
				t.Errorf("stripped = affected %d, insert id %d, warnings %d; want %d, %d, %d",
					ok.affectedRows, ok.insertID, ok.warnings, tt.in.affected, tt.in.ins, tt.in.warnings)
			}
			if ok.status&stateChanged != 0 || ok.status != tt.in.status&^stateChanged {
				t.Errorf("stripped status = %#x, want %#x", ok.status, tt.in.status&^stateChanged)
			}
			if string(ok.rest) != tt.in.info {
				t.Errorf("stripped info = %q, want %q", ok.rest, tt.in.info)
			}
		})
	}
	if _, err := stripSessionTrack(nil, []byte{0x00, 0x01}); err == nil {
		t.Errorf("stripSessionTrack of a malformed OK: no error")
	}
}

func TestEOFStatus(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16
	}{
		{"EOF", []byte{0xfe, 0x00, 0x00, 0x02, 0x00}, 0x0002},
		{"EOF with warnings and more results", []byte{0xfe, 0x03, 0x00, 0x0a, 0x00}, 0x000a},
		{"EOF high status byte", []byte{0xfe, 0x00, 0x00, 0x00, 0x40}, 0x4000},
		{"OK with 0xFE header", []byte{0xfe, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00}, 0x0022},
		{"short", []byte{0xfe, 0x00, 0x00, 0x02}, 0},
		{"9 bytes is a row, not EOF", []byte{0xfe, 0, 0, 2, 0, 0, 0, 0, 0}, 0},
		{"OK header", []byte{0x00, 0x00, 0x00, 0x02, 0x00}, 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eofStatus(tt.in); got != tt.want {
				t.Errorf("eofStatus(% x) = %#x, want %#x", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsEOF(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		length int
		want   bool
	}{
		{"EOF", []byte{0xfe, 0, 0, 2, 0}, 5, true},
		{"bare 0xFE (pre-4.1 EOF)", []byte{0xfe}, 1, true},
		{"OK with 0xFE header", []byte{0xfe, 0, 0, 2, 0, 0, 0}, 7, true},
		{"8 bytes", []byte{0xfe, 0, 0, 2, 0, 0, 0, 0}, 8, true},
		{"9 bytes: a row starting with a 8-byte length", []byte{0xfe, 1, 0, 0, 0, 0, 0, 0, 0}, 9, false},
		{"large frame not peeked", nil, 1 << 20, false},
		{"row starting with 0x00", []byte{0x00, 0x01}, 2, false},
		{"ERR", []byte{0xff, 0x15, 0x04}, 3, false},
		{"empty", []byte{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isEOF(tt.in, tt.length); got != tt.want {
				t.Errorf("isEOF(% x, %d) = %v, want %v", tt.in, tt.length, got, tt.want)
			}
		})
	}
}

func TestAppendErrParseErr(t *testing.T) {
	tests := []struct {
		code      uint16
		state     string
		msg       string
		wantState string
	}{
		{mysql.ER_ACCESS_DENIED_ERROR, "28000", "Access denied for user 'app'@'127.0.0.1' (using password: YES)", "28000"},
		{mysql.ER_UNKNOWN_COM_ERROR, "08S01", "tailgate does not support command 0xee", "08S01"},
		{mysql.ER_CON_COUNT_ERROR, "08004", "Too many connections", "08004"},
		{0, "HY000", "", "HY000"},
		{0xffff, "", "no state given", "HY000"},
		{1064, "4200", "state too short", "HY000"},
		{1064, "420000", "state too long", "HY000"},
		{1105, "HY000", "ünïcödé and #hash and \x00 nul", "HY000"},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			prefix := []byte("prefix")
			p := appendErr(append([]byte(nil), prefix...), tt.code, tt.state, tt.msg)
			if !bytes.HasPrefix(p, prefix) {
				t.Fatalf("appendErr overwrote dst")
			}
			p = p[len(prefix):]
			if p[0] != mysql.ERR_HEADER {
				t.Fatalf("header = %#x, want 0xff", p[0])
			}
			e := parseErr(p)
			if e.Code != tt.code || e.State != tt.wantState || e.Message != tt.msg {
				t.Errorf("parseErr(appendErr(%d, %q, %q)) = %d, %q, %q; want %d, %q, %q",
					tt.code, tt.state, tt.msg, e.Code, e.State, e.Message, tt.code, tt.wantState, tt.msg)
			}
		})
	}
}

func TestParseErrMalformed(t *testing.T) {
	for _, in := range [][]byte{nil, {0xff}, {0xff, 0x15}} {
		e := parseErr(in)
		if e.Code != mysql.ER_UNKNOWN_ERROR || e.Message == "" {
			t.Errorf("parseErr(% x) = %+v, want ER_UNKNOWN_ERROR with a message", in, e)
		}
	}
	// Pre-4.1 ERR packets have no SQL state.
	e := parseErr([]byte{0xff, 0x15, 0x04, 'n', 'o', ' ', 's', 't', 'a', 't', 'e'})
	if e.Code != 1045 || e.State != "HY000" || e.Message != "no state" {
		t.Errorf("parseErr(no state) = %d %q %q", e.Code, e.State, e.Message)
	}
	// A '#' with fewer than 5 state bytes is message text.
	e = parseErr([]byte{0xff, 0x15, 0x04, '#', '1', '2'})
	if e.State != "HY000" || e.Message != "#12" {
		t.Errorf("parseErr(short state) = %q %q", e.State, e.Message)
	}
}

func TestAppendOK(t *testing.T) {
	for _, status := range []uint16{0, mysql.SERVER_STATUS_AUTOCOMMIT, mysql.SERVER_STATUS_IN_TRANS | mysql.SERVER_STATUS_AUTOCOMMIT, 0xffff} {
		p := appendOK(nil, status)
		ok, err := parseOK(p)
		if err != nil {
			t.Fatalf("parseOK(appendOK(%#x)): %v", status, err)
		}
		if p[0] != mysql.OK_HEADER || ok.status != status || ok.affectedRows != 0 || ok.insertID != 0 || ok.warnings != 0 || len(ok.rest) != 0 {
			t.Errorf("appendOK(%#x) = % x, decoded %+v", status, p, ok)
		}
	}
}

func TestReadOnlyError(t *testing.T) {
	errPacket := func(code uint16, msg string) []byte {
		return appendErr(nil, code, "HY000", msg)
	}
	for _, tc := range []struct {
		p    []byte
		want bool
	}{
		{errPacket(1290, "The MariaDB server is running with the --read-only option so it cannot execute this statement"), true},
		{errPacket(1290, "The MySQL server is running with the --super-read-only option so it cannot execute this statement"), true},
		{errPacket(1290, "The MariaDB server is running with the --secure-file-priv option so it cannot execute this statement"), false},
		{errPacket(1836, "Running in read-only mode"), true},
		{errPacket(1146, "Table 'x.read-only' doesn't exist"), false},
		{[]byte{0xff, 0x0a}, false},
	} {
		if got := readOnlyError(tc.p); got != tc.want {
			t.Errorf("readOnlyError(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
