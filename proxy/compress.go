package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/klauspost/compress/zlib"
)

// The compressed protocol (CLIENT_COMPRESS) wraps the plain packet stream in compressed
// packets: a 7-byte header (3-byte compressed length, sequence number, 3-byte length before
// compression) and a zlib stream, or the bytes as they are when that length is 0. Packet
// boundaries of the two layers are independent: one compressed packet may hold several
// plain packets or part of one.
const (
	compHeaderLen = 7
	// minCompressLen is the smallest chunk worth compressing (MySQL's MIN_COMPRESS_LENGTH);
	// shorter ones, and chunks that do not shrink, are sent as they are.
	minCompressLen = 50
)

// ErrCompressed is returned for a malformed compressed packet.
var ErrCompressed = errors.New("malformed compressed packet")

// compConn is the compressed layer of a client connection. packetIO reads and writes plain
// packets through it. Read returns at most the rest of the current compressed packet, so a
// bufio.Reader on top never reads a compressed packet before the plain bytes it holds are
// needed, and seq always belongs to the packet being processed.
type compConn struct {
	conn net.Conn
	r    *bufio.Reader // compressed bytes from conn

	plain []byte // the current packet's plain bytes not yet read
	in    []byte // reused buffer of a packet's payload
	out   []byte // reused buffer of plain bytes after decompression
	zr    io.ReadCloser
	src   bytes.Reader
	probe [1]byte

	wbuf []byte // reused buffer of what one Write sends
	zw   *zlib.Writer
	zout bytes.Buffer

	// seq is the sequence number of the next compressed packet written: one more than the
	// last one read or written. As in MySQL, it restarts with each command because the
	// client's command packet carries 0.
	seq uint8
}

// compress switches p to the compressed protocol; nothing may be buffered in either
// direction. Reads then take the sequence number of plain packets from the compressed
// layer and writes after a flush continue from it, as MySQL's server does.
func (p *packetIO) compress() {
	p.cc = &compConn{conn: p.conn, r: p.r}
	p.r = bufio.NewReaderSize(p.cc, ioBufferSize)
	p.w = bufio.NewWriterSize(p.cc, ioBufferSize)
}

// Read returns plain bytes of the current compressed packet, reading the next one when
// the current one is used up.
func (c *compConn) Read(p []byte) (int, error) {
	for len(c.plain) == 0 {
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// next reads one compressed packet and makes its plain bytes current.
func (c *compConn) next() error {
	var hdr [compHeaderLen]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return err
	}
	clen := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	ulen := int(hdr[4]) | int(hdr[5])<<8 | int(hdr[6])<<16
	c.seq = hdr[3] + 1
	if cap(c.in) > keepBufferSize {
		c.in = nil
	}
	if cap(c.out) > keepBufferSize {
		c.out = nil
	}
	c.in = slices.Grow(c.in[:0], clen)[:clen]
	if _, err := io.ReadFull(c.r, c.in); err != nil {
		return err
	}
	if ulen == 0 { // sent as is
		c.plain = c.in
		return nil
	}
	c.src.Reset(c.in)
	if c.zr == nil {
		zr, err := zlib.NewReader(&c.src)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCompressed, err)
		}
		c.zr = zr
	} else if err := c.zr.(zlib.Resetter).Reset(&c.src, nil); err != nil {
		return fmt.Errorf("%w: %v", ErrCompressed, err)
	}
	c.out = slices.Grow(c.out[:0], ulen)[:ulen]
	if _, err := io.ReadFull(c.zr, c.out); err != nil {
		return fmt.Errorf("%w: %d bytes announced: %v", ErrCompressed, ulen, err)
	}
	// The stream must end exactly there (this also checks its checksum).
	if n, err := c.zr.Read(c.probe[:]); n != 0 || err != io.EOF {
		return fmt.Errorf("%w: more than the %d bytes announced", ErrCompressed, ulen)
	}
	c.plain = c.out
	return nil
}

// Write sends p as compressed packets in one write to the connection.
func (c *compConn) Write(p []byte) (int, error) {
	if cap(c.wbuf) > keepBufferSize {
		c.wbuf = nil
	}
	c.wbuf = c.wbuf[:0]
	for rest := p; len(rest) > 0; {
		chunk := rest[:min(len(rest), maxPayload)]
		rest = rest[len(chunk):]
		c.wbuf = c.appendPacket(c.wbuf, chunk)
	}
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// appendPacket appends one compressed packet holding chunk.
func (c *compConn) appendPacket(dst, chunk []byte) []byte {
	body, ulen := chunk, 0
	if len(chunk) >= minCompressLen {
		c.zout.Reset()
		if c.zw == nil {
			c.zw = zlib.NewWriter(&c.zout)
		} else {
			c.zw.Reset(&c.zout)
		}
		// Writing to a bytes.Buffer cannot fail.
		_, _ = c.zw.Write(chunk)
		_ = c.zw.Close()
		if c.zout.Len() < len(chunk) {
			body, ulen = c.zout.Bytes(), len(chunk)
		}
	}
	n := len(body)
	dst = append(dst, byte(n), byte(n>>8), byte(n>>16), c.seq, byte(ulen), byte(ulen>>8), byte(ulen>>16))
	c.seq++
	return append(dst, body...)
}
