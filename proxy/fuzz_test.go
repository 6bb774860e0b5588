package proxy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Seed packets as MariaDB and clients send them.
var (
	// A HandshakeResponse41 of go-sql-driver (user app, db tailgate_test, native password).
	seedHandshakeResponse = []byte("\x8d\xa2\x0f\x00\x00\x00\x00\x01\x2d\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00app\x00\x14" +
		"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14" +
		"tailgate_test\x00mysql_native_password\x00")
	seedOK          = []byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}
	seedOKInsert    = []byte{0x00, 0x01, 0x05, 0x02, 0x00, 0x00, 0x00}
	seedOKInfo      = append([]byte{0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00}, "Rows matched: 1  Changed: 1  Warnings: 0"...)
	seedOKTrackGTID = okPkt{affected: 1, ins: 3, status: 0x0002 | stateChanged, track: true,
		block: trackSysVar("last_gtid", "0-1-1234")}.bytes()
	seedOKTrackSchema = okPkt{status: 0x0002 | stateChanged, track: true,
		block: append(trackSchema("tailgate_test"), trackSysVar("autocommit", "ON")...)}.bytes()
	seedOKWide = okPkt{affected: 1 << 40, ins: 70000, status: 0x4003, warnings: 3, info: "Records: 3", track: true,
		block: trackSysVar("last_gtid", "0-1-5")}.bytes()
	seedEOF = []byte{0xfe, 0x00, 0x00, 0x22, 0x00}
	seedERR = appendErr(nil, mysql.ER_NO_SUCH_TABLE, "42S02", "Table 'tailgate_test.nope' doesn't exist")
)

// FuzzReadPacket feeds random bytes to readPacket: it must never panic, never return more
// than maxRead bytes, never grow its buffer much beyond maxRead whatever the headers
// announce, and fail only with a framing or end-of-input error.
func FuzzReadPacket(f *testing.F) {
	f.Add(frameBytes(0, seedHandshakeResponse), uint16(1024))
	f.Add(frameBytes(0, []byte("\x03SELECT 1")), uint16(64))
	f.Add(append(frameBytes(0, []byte{mysql.COM_PING}), frameBytes(0, []byte{mysql.COM_QUIT})...), uint16(16))
	f.Add(frameBytes(1, []byte("\x03x")), uint16(100)) // out of sequence
	f.Add(frameHeader(0, maxPayload), uint16(4096))    // announces 16 MiB
	f.Add(append(frameHeader(0, maxPayload), frameHeader(1, maxPayload)...), uint16(0xffff))
	f.Add([]byte{0x05, 0x00, 0x00, 0x00, 0x03, 'S'}, uint16(1024))           // truncated payload
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, uint16(0)) // empty packets, maxRead 0
	f.Fuzz(func(t *testing.T, wire []byte, maxRead16 uint16) {
		maxRead := int(maxRead16)
		p := newPacketIO(&memConn{r: bytes.NewReader(wire)}, maxRead)
		for i := 0; i < 1000; i++ {
			p.resetSeq()
			pkt, err := p.readPacket()
			if cap(p.buf) > 2*maxRead+4096 {
				t.Fatalf("read buffer grew to %d bytes with maxRead %d", cap(p.buf), maxRead)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrSequence) && !errors.Is(err, ErrPacketTooLarge) {
					t.Fatalf("readPacket: unexpected error %v", err)
				}
				return
			}
			if len(pkt) > maxRead {
				t.Fatalf("readPacket returned %d bytes with maxRead %d", len(pkt), maxRead)
			}
		}
	})
}

// FuzzParseOK decodes random OK packets: parseOK, sessionTrack and stripSessionTrack must
// never panic, and a packet parseOK accepts must strip to an OK with the same counters and
// without SERVER_SESSION_STATE_CHANGED.
func FuzzParseOK(f *testing.F) {
	for _, p := range [][]byte{seedOK, seedOKInsert, seedOKInfo, seedOKTrackGTID, seedOKTrackSchema, seedOKWide, seedEOF, seedERR, {}, {0x00}} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		ok, err := parseOK(p)
		if err != nil {
			return
		}
		if ok.restOffset > len(p) || !bytes.Equal(p[ok.restOffset:], ok.rest) {
			t.Fatalf("rest (offset %d) does not match the payload of %d bytes", ok.restOffset, len(p))
		}
		if blk := ok.sessionTrack(); blk != nil && len(blk) > len(ok.rest) {
			t.Fatalf("session state block of %d bytes from a rest of %d", len(blk), len(ok.rest))
		}
		out, err := stripSessionTrack(nil, p)
		if err != nil {
			t.Fatalf("stripSessionTrack of a packet parseOK accepted: %v", err)
		}
		got, err := parseOK(out)
		if err != nil {
			t.Fatalf("parseOK(stripped): %v", err)
		}
		if got.affectedRows != ok.affectedRows || got.insertID != ok.insertID || got.warnings != ok.warnings ||
			got.status != ok.status&^mysql.SERVER_SESSION_STATE_CHANGED {
			t.Fatalf("stripped %+v, original %+v", got, ok)
		}
		if len(out) > len(p) {
			t.Fatalf("stripped packet (%d bytes) longer than the original (%d)", len(out), len(p))
		}
		_ = eofStatus(p)
		_ = isEOF(p, len(p))
		_ = parseErr(p)
	})
}

// FuzzSessionTrack feeds random session state blocks to the extraction from an OK packet
// and to the session's decoder of the entries: neither may panic.
func FuzzSessionTrack(f *testing.F) {
	f.Add(trackSysVar("last_gtid", "0-1-1234"))
	f.Add(append(trackSchema("tailgate_test"), trackSysVar("autocommit", "ON")...))
	f.Add(append(trackSysVar("last_gtid", "0-1-1"), 0x02, 0x05, 0x04, 'a', 'b', 'c', 'd')) // SESSION_TRACK_STATE_CHANGE-like
	f.Add([]byte{0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x01, 0x03, 0xfc, 0xff})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, block []byte) {
		// As an OK packet's session state block, then as raw bytes after the status.
		p := okPkt{affected: 1, status: 0x0002 | stateChanged, info: "i", track: true, block: block}.bytes()
		ok, err := parseOK(p)
		if err != nil {
			t.Fatalf("parseOK of a well-formed OK: %v", err)
		}
		if got := ok.sessionTrack(); !bytes.Equal(got, block) {
			t.Fatalf("sessionTrack() = % x, want % x", got, block)
		}
		raw := append(okPkt{status: stateChanged}.bytes(), block...)
		if ok, err := parseOK(raw); err == nil {
			_ = ok.sessionTrack()
		}

		s := &session{srv: bareServer(Options{})}
		bc := &backendConn{b: &Backend{Name: "primary", Primary: true}}
		s.onSessionTrack(bc, block)
		if s.state.schema != bc.schema {
			t.Fatalf("session schema %q, connection schema %q", s.state.schema, bc.schema)
		}
	})
}

// FuzzParseChangeUser: any COM_CHANGE_USER payload parses or is refused without a panic;
// what parses is made of the input's bytes.
func FuzzParseChangeUser(f *testing.F) {
	f.Add([]byte("app\x00\x14abcdefghijklmnopqrst\x00db\x00\x21\x00mysql_native_password\x00"), uint32(mysql.CLIENT_SECURE_CONNECTION|mysql.CLIENT_PLUGIN_AUTH))
	f.Add([]byte("app\x00secret\x00db\x00"), uint32(0))
	f.Add([]byte("app\x00\x00"), uint32(mysql.CLIENT_SECURE_CONNECTION))
	f.Fuzz(func(t *testing.T, b []byte, caps uint32) {
		req, err := parseChangeUser(b, caps)
		if err != nil {
			return
		}
		if strings.ContainsRune(req.user, 0) || strings.ContainsRune(req.schema, 0) || strings.ContainsRune(req.plugin, 0) {
			t.Fatalf("a NUL inside a parsed string: %+v", req)
		}
		if len(req.user)+len(req.auth)+len(req.schema)+len(req.plugin) > len(b) {
			t.Fatalf("parsed more than the input: %+v from %d bytes", req, len(b))
		}
	})
}
