package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tailgate-proxy/tailgate/router"
)

// errMalformed is returned for a packet that does not decode.
var errMalformed = errors.New("malformed packet")

// readLenEnc decodes a length-encoded integer at b[0:], returning the value and its size.
// It never panics on short input.
func readLenEnc(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xfb: // NULL
		return 0, 1, true
	case 0xfc:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case 0xfd:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case 0xfe:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	case 0xff:
		return 0, 0, false
	}
	return uint64(b[0]), 1, true
}

// okPacket is the decoded head of an OK packet.
type okPacket struct {
	affectedRows uint64
	insertID     uint64
	status       uint16
	warnings     uint16
	// rest is what follows the warnings: info and session state (layout depends on
	// CLIENT_SESSION_TRACK).
	rest []byte
	// restOffset is where rest starts in the payload.
	restOffset int
}

// parseOK decodes an OK packet (header 0x00, or 0xFE for an OK that ends a result set).
func parseOK(p []byte) (okPacket, error) {
	var ok okPacket
	if len(p) < 1 {
		return ok, errMalformed
	}
	pos := 1
	v, n, good := readLenEnc(p[pos:])
	if !good {
		return ok, errMalformed
	}
	ok.affectedRows, pos = v, pos+n
	v, n, good = readLenEnc(p[pos:])
	if !good {
		return ok, errMalformed
	}
	ok.insertID, pos = v, pos+n
	if len(p) < pos+4 {
		return ok, errMalformed
	}
	ok.status = binary.LittleEndian.Uint16(p[pos:])
	ok.warnings = binary.LittleEndian.Uint16(p[pos+2:])
	pos += 4
	ok.rest, ok.restOffset = p[pos:], pos
	return ok, nil
}

// sessionTrack returns the session state change block of an OK packet decoded with
// CLIENT_SESSION_TRACK, or nil.
func (ok okPacket) sessionTrack() []byte {
	if ok.status&mysql.SERVER_SESSION_STATE_CHANGED == 0 || len(ok.rest) == 0 {
		return nil
	}
	infoLen, n, good := readLenEnc(ok.rest)
	if !good || uint64(len(ok.rest)-n) < infoLen {
		return nil
	}
	rest := ok.rest[n+int(infoLen):]
	blockLen, n, good := readLenEnc(rest)
	if !good || uint64(len(rest)-n) < blockLen {
		return nil
	}
	return rest[n : n+int(blockLen)]
}

// stripSessionTrack rewrites an OK packet decoded with CLIENT_SESSION_TRACK into the
// layout of a client that did not negotiate it (info as string<EOF>, no state block).
// dst is reused; the result aliases it.
func stripSessionTrack(dst, p []byte) ([]byte, error) {
	ok, err := parseOK(p)
	if err != nil {
		return nil, err
	}
	return ok.appendStripped(dst, p), nil
}

// Session state entry types (MySQL's enum_session_state_type) that tailgate reads.
const (
	sessionTrackSystemVariables = 0x00 // a changed system variable: name, value
	sessionTrackSchema          = 0x01 // the new default database
	sessionTrackGTIDs           = 0x03 // MySQL's session_track_gtids
)

// eachSessionTrack calls fn with the type and data of each entry of a session state block.
func eachSessionTrack(block []byte, fn func(typ byte, data []byte)) {
	for len(block) > 0 {
		data, rest, ok := readLenEncBytes(block[1:])
		if !ok {
			return
		}
		fn(block[0], data)
		block = rest
	}
}

// readLenEncBytes reads a length-encoded string at b[0:] and returns it and what follows.
func readLenEncBytes(b []byte) (s, rest []byte, ok bool) {
	n, size, ok := readLenEnc(b)
	if !ok || uint64(len(b)-size) < n {
		return nil, nil, false
	}
	return b[size : size+int(n)], b[size+int(n):], true
}

// trackedVariable reads the data of a SESSION_TRACK_SYSTEM_VARIABLES entry: a variable and
// its value.
func trackedVariable(data []byte) (name, value []byte, ok bool) {
	name, rest, ok := readLenEncBytes(data)
	if !ok {
		return nil, nil, false
	}
	value, _, ok = readLenEncBytes(rest)
	return name, value, ok
}

// sqlModeOf reads the flags that change how statement text reads from a sql_mode value
// as servers report it ("ANSI_QUOTES,STRICT_TRANS_TABLES": composite modes such as ANSI
// come with their parts).
func sqlModeOf(value []byte) router.SQLMode {
	var m router.SQLMode
	for rest := value; len(rest) > 0; {
		var f []byte
		f, rest, _ = bytes.Cut(rest, []byte(","))
		switch string(f) {
		case "ANSI_QUOTES":
			m |= router.ModeANSIQuotes
		case "NO_BACKSLASH_ESCAPES":
			m |= router.ModeNoBackslashEscapes
		}
	}
	return m
}

// appendStripped is stripSessionTrack for p already decoded as ok.
func (ok okPacket) appendStripped(dst, p []byte) []byte {
	dst = append(dst[:0], p[:ok.restOffset]...)
	status := ok.status &^ mysql.SERVER_SESSION_STATE_CHANGED
	binary.LittleEndian.PutUint16(dst[ok.restOffset-4:], status)
	if len(ok.rest) > 0 {
		infoLen, n, good := readLenEnc(ok.rest)
		if good && uint64(len(ok.rest)-n) >= infoLen {
			dst = append(dst, ok.rest[n:n+int(infoLen)]...)
		}
	}
	return dst
}

// eofStatusAt is where an EOF packet (0xFE, warnings, status) has its status flags.
const eofStatusAt = 3

// eofStatus returns the status flags of an EOF packet (0xFE, 5 bytes) or an OK packet
// that ends a result set.
func eofStatus(p []byte) uint16 {
	if len(p) >= 5 && len(p) < 9 && p[0] == mysql.EOF_HEADER {
		return binary.LittleEndian.Uint16(p[eofStatusAt:])
	}
	return 0
}

// isEOF reports whether p terminates a row stream (EOF, or OK with an 0xFE header).
func isEOF(p []byte, length int) bool {
	return length < 9 && len(p) > 0 && p[0] == mysql.EOF_HEADER
}

// appendErr appends an ERR packet payload.
func appendErr(dst []byte, code uint16, state, msg string) []byte {
	dst = append(dst, mysql.ERR_HEADER, byte(code), byte(code>>8), '#')
	if len(state) != 5 {
		state = "HY000"
	}
	dst = append(dst, state...)
	return append(dst, msg...)
}

// appendOK appends a minimal OK packet payload.
func appendOK(dst []byte, status uint16) []byte {
	return append(dst, mysql.OK_HEADER, 0, 0, byte(status), byte(status>>8), 0, 0)
}

// parseErr decodes an ERR packet for logs and errors.
func parseErr(p []byte) *mysql.MyError {
	e := &mysql.MyError{Code: mysql.ER_UNKNOWN_ERROR, State: "HY000"}
	if len(p) < 3 {
		e.Message = "malformed error packet"
		return e
	}
	e.Code = binary.LittleEndian.Uint16(p[1:])
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.State = string(rest[1:6])
		rest = rest[6:]
	}
	e.Message = string(rest)
	return e
}
