package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
)

const (
	maxPayload     = 1<<24 - 1 // a frame of this length is continued by the next frame
	ioBufferSize   = 64 << 10
	keepBufferSize = 1 << 20 // larger read buffers are dropped after use
)

var (
	// ErrPacketTooLarge is returned when a peer sends a packet above the allowed size.
	ErrPacketTooLarge = errors.New("packet too large")
	// ErrSequence is returned when a peer's packet sequence number is out of order.
	ErrSequence = errors.New("packet out of sequence")
)

// packetIO frames MySQL packets over one connection with buffered reads and writes.
// Writes are buffered until Flush, so a whole response leaves in one write(2) where it fits.
// It is owned by one goroutine at a time.
type packetIO struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	seq     uint8
	maxRead int    // largest logical packet accepted by readPacket
	buf     []byte // reused payload buffer of readPacket
	hdr     [4]byte
	whdr    [4]byte
	cc      *compConn // the compressed layer, nil for plain connections
}

func newPacketIO(conn net.Conn, maxRead int) *packetIO {
	return &packetIO{
		conn:    conn,
		r:       bufio.NewReaderSize(conn, ioBufferSize),
		w:       bufio.NewWriterSize(conn, ioBufferSize),
		maxRead: maxRead,
	}
}

// resetSeq starts a new command phase.
func (p *packetIO) resetSeq() { p.seq = 0 }

// readHeader reads one frame header and checks its sequence number.
func (p *packetIO) readHeader() (int, error) {
	if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
		return 0, err
	}
	n := int(p.hdr[0]) | int(p.hdr[1])<<8 | int(p.hdr[2])<<16
	if p.cc != nil {
		// MySQL does not check plain sequence numbers under compression: what follows
		// continues from the compressed packet's.
		p.seq = p.cc.seq
		return n, nil
	}
	if p.hdr[3] != p.seq {
		return 0, fmt.Errorf("%w: got %d, want %d", ErrSequence, p.hdr[3], p.seq)
	}
	p.seq++
	return n, nil
}

// readPacket reads one logical packet (joining continuation frames). The returned slice is
// valid until the next readPacket.
func (p *packetIO) readPacket() ([]byte, error) {
	if cap(p.buf) > keepBufferSize {
		p.buf = nil
	}
	p.buf = p.buf[:0]
	for {
		n, err := p.readHeader()
		if err != nil {
			return nil, err
		}
		if len(p.buf)+n > p.maxRead {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrPacketTooLarge, len(p.buf)+n, p.maxRead)
		}
		start := len(p.buf)
		p.buf = slices.Grow(p.buf, n)[:start+n]
		if _, err := io.ReadFull(p.r, p.buf[start:]); err != nil {
			return nil, err
		}
		if n < maxPayload {
			if p.cc != nil {
				p.seq = p.cc.seq // the payload may have ended in a later compressed packet
			}
			return p.buf, nil
		}
	}
}

// writePacket buffers one logical packet, splitting it into frames as needed.
func (p *packetIO) writePacket(payload []byte) error {
	for {
		n := len(payload)
		if n > maxPayload {
			n = maxPayload
		}
		if err := p.writeFrameHeader(n); err != nil {
			return err
		}
		if _, err := p.w.Write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < maxPayload {
			return nil
		}
	}
}

func (p *packetIO) writeFrameHeader(n int) error {
	p.whdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), p.seq}
	p.seq++
	_, err := p.w.Write(p.whdr[:]) // a field, not a local: a local array would escape per call
	return err
}

func (p *packetIO) flush() error {
	err := p.w.Flush()
	if p.cc != nil {
		p.seq = p.cc.seq // as MySQL's net_flush: plain packets continue from the compressed layer
	}
	return err
}

// frame is one relayed frame: the first bytes are peeked so the relay can inspect them.
type frame struct {
	length int
	// payload is the whole payload when it fit into the read buffer, else nil.
	payload []byte
}

// peekFrame reads a frame header and, when the frame fits into the read buffer, peeks its
// payload without copying. The caller must call skipFrame or copyFrameTo afterwards.
func (p *packetIO) peekFrame() (frame, error) {
	n, err := p.readHeader()
	if err != nil {
		return frame{}, err
	}
	f := frame{length: n}
	if n <= p.r.Size() {
		f.payload, err = p.r.Peek(n)
		if err != nil {
			return frame{}, err
		}
	}
	return f, nil
}

// copyFrameTo writes the frame just peeked to dst with dst's sequence number and consumes
// it. writeSide tells whether a returned error came from writing dst rather than reading p.
func (p *packetIO) copyFrameTo(dst *packetIO, f frame) (err error, writeSide bool) {
	if err := dst.writeFrameHeader(f.length); err != nil {
		return err, true
	}
	if f.payload != nil {
		if _, err := dst.w.Write(f.payload); err != nil {
			return err, true
		}
		_, err := p.r.Discard(f.length)
		return err, false
	}
	for remaining := f.length; remaining > 0; {
		n := min(remaining, p.r.Buffered())
		if n == 0 {
			if _, err := p.r.Peek(1); err != nil {
				return err, false
			}
			continue
		}
		b, _ := p.r.Peek(n)
		if _, err := dst.w.Write(b); err != nil {
			return err, true
		}
		_, _ = p.r.Discard(n)
		remaining -= n
	}
	return nil, false
}

// skipFrame consumes a frame just peeked without relaying it.
func (p *packetIO) skipFrame(f frame) error {
	_, err := p.r.Discard(f.length)
	return err
}
