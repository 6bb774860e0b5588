package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	deadline := time.Now().Add(30 * time.Second)
	_ = client.SetDeadline(deadline)
	_ = server.SetDeadline(deadline)
	return client, server
}

// frameBytes encodes one wire frame.
func frameBytes(seq uint8, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// frameHeader encodes a frame header announcing n bytes.
func frameHeader(seq uint8, n int) []byte {
	return []byte{byte(n), byte(n >> 8), byte(n >> 16), seq}
}

// pattern returns n bytes that differ from frame to frame and position to position.
func pattern(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ byte(i>>16) ^ salt
	}
	return b
}

// sendAsync writes chunks to c in a goroutine and reports the write error.
func sendAsync(c net.Conn, chunks ...[]byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		for _, b := range chunks {
			if _, err := c.Write(b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// memConn is a net.Conn reading from r and writing to w (nil: discard); a non-nil
// writeErr fails every write.
type memConn struct {
	r        io.Reader
	w        io.Writer
	writeErr error
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.r == nil {
		return 0, io.EOF
	}
	return c.r.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	if c.w == nil {
		return len(p), nil
	}
	return c.w.Write(p)
}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

func TestReadPacketSmall(t *testing.T) {
	a, b := tcpPair(t)
	p := newPacketIO(b, 1<<20)
	want := []byte("\x03SELECT 1")
	sent := sendAsync(a, frameBytes(0, want), frameBytes(1, nil), frameBytes(0, []byte{0x0e}))
	got, err := p.readPacket()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("readPacket = %q, %v; want %q", got, err, want)
	}
	// An empty packet is a packet.
	got, err = p.readPacket()
	if err != nil || len(got) != 0 {
		t.Fatalf("readPacket(empty) = % x, %v", got, err)
	}
	p.resetSeq()
	got, err = p.readPacket()
	if err != nil || !bytes.Equal(got, []byte{0x0e}) {
		t.Fatalf("readPacket after resetSeq = % x, %v", got, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

func TestReadPacketJoinsContinuationFrames(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		frames []int // frame lengths on the wire
	}{
		{"exactly 0xFFFFFF then an empty frame", maxPayload, []int{maxPayload, 0}},
		{"16 MiB + 10", 16<<20 + 10, []int{maxPayload, 11}},
		{"two full frames then an empty frame", 2 * maxPayload, []int{maxPayload, maxPayload, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tcpPair(t)
			payload := pattern(tt.size, 7)
			var chunks [][]byte
			off := 0
			for i, n := range tt.frames {
				chunks = append(chunks, frameBytes(uint8(i), payload[off:off+n]))
				off += n
			}
			// A second packet right behind: the reader must stop at the packet boundary.
			chunks = append(chunks, frameBytes(0, []byte("next")))
			sent := sendAsync(a, chunks...)
			p := newPacketIO(b, 64<<20)
			got, err := p.readPacket()
			if err != nil {
				t.Fatalf("readPacket: %v", err)
			}
			if len(got) != tt.size || !bytes.Equal(got, payload) {
				t.Fatalf("readPacket returned %d bytes (equal: %v), want %d", len(got), bytes.Equal(got, payload), tt.size)
			}
			if int(p.seq) != len(tt.frames) {
				t.Errorf("sequence after the packet = %d, want %d", p.seq, len(tt.frames))
			}
			p.resetSeq()
			got, err = p.readPacket()
			if err != nil || string(got) != "next" {
				t.Fatalf("next packet = %q, %v", got, err)
			}
			if cap(p.buf) > keepBufferSize {
				t.Errorf("read buffer of %d bytes kept after a small packet", cap(p.buf))
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReadPacketSequence(t *testing.T) {
	t.Run("first frame", func(t *testing.T) {
		a, b := tcpPair(t)
		sent := sendAsync(a, frameBytes(3, []byte("x")))
		p := newPacketIO(b, 1<<20)
		if _, err := p.readPacket(); !errors.Is(err, ErrSequence) {
			t.Fatalf("readPacket = %v, want ErrSequence", err)
		}
		<-sent
	})
	t.Run("continuation frame", func(t *testing.T) {
		a, b := tcpPair(t)
		sent := sendAsync(a, frameBytes(0, make([]byte, maxPayload)), frameBytes(2, []byte("x")))
		p := newPacketIO(b, 64<<20)
		if _, err := p.readPacket(); !errors.Is(err, ErrSequence) {
			t.Fatalf("readPacket = %v, want ErrSequence", err)
		}
		<-sent
	})
	t.Run("sequence wraps after 255", func(t *testing.T) {
		var wire []byte
		for i := 0; i < 300; i++ {
			wire = append(wire, frameBytes(uint8(i), []byte{byte(i)})...)
		}
		p := newPacketIO(&memConn{r: bytes.NewReader(wire)}, 1<<20)
		for i := 0; i < 300; i++ {
			got, err := p.readPacket()
			if err != nil || len(got) != 1 || got[0] != byte(i) {
				t.Fatalf("packet %d = % x, %v", i, got, err)
			}
		}
	})
}

// heapAllocDelta runs f and returns how many bytes it allocated.
func heapAllocDelta(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadPacketTooLarge(t *testing.T) {
	t.Run("announced size rejected before its payload arrives", func(t *testing.T) {
		a, b := tcpPair(t)
		// Only the header is sent: readPacket must not wait for (or allocate) 16 MiB.
		sent := sendAsync(a, frameHeader(0, maxPayload))
		p := newPacketIO(b, 1024)
		var err error
		alloc := heapAllocDelta(func() { _, err = p.readPacket() })
		if !errors.Is(err, ErrPacketTooLarge) {
			t.Fatalf("readPacket = %v, want ErrPacketTooLarge", err)
		}
		if alloc > 1<<20 {
			t.Errorf("readPacket allocated %d bytes rejecting a packet above maxRead", alloc)
		}
		if cap(p.buf) > 1024 {
			t.Errorf("read buffer grew to %d bytes", cap(p.buf))
		}
		<-sent
	})
	t.Run("exactly maxRead is accepted", func(t *testing.T) {
		payload := pattern(1024, 1)
		p := newPacketIO(&memConn{r: bytes.NewReader(frameBytes(0, payload))}, 1024)
		got, err := p.readPacket()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("readPacket(maxRead bytes) = %d bytes, %v", len(got), err)
		}
		p = newPacketIO(&memConn{r: bytes.NewReader(frameBytes(0, pattern(1025, 1)))}, 1024)
		if _, err := p.readPacket(); !errors.Is(err, ErrPacketTooLarge) {
			t.Fatalf("readPacket(maxRead+1 bytes) = %v, want ErrPacketTooLarge", err)
		}
	})
	t.Run("continuations adding up past maxRead", func(t *testing.T) {
		a, b := tcpPair(t)
		// The first frame fits, the second header would take the packet past maxRead: the
		// reader stops at that header without reading on.
		sent := sendAsync(a, frameBytes(0, make([]byte, maxPayload)), frameHeader(1, maxPayload))
		p := newPacketIO(b, maxPayload+100)
		if _, err := p.readPacket(); !errors.Is(err, ErrPacketTooLarge) {
			t.Fatalf("readPacket = %v, want ErrPacketTooLarge", err)
		}
		// The buffer holds the first frame only: it was not grown for the second.
		if c := cap(p.buf); c < maxPayload || c >= 2*maxPayload {
			t.Errorf("read buffer capacity %d after rejecting the second frame, want about %d", c, maxPayload)
		}
		<-sent
	})
	t.Run("1 GiB of continuation headers", func(t *testing.T) {
		// 64 headers of 16 MiB announce 1 GiB; a reader limited to 1 MiB rejects the first.
		var wire []byte
		for i := 0; i < 64; i++ {
			wire = append(wire, frameHeader(uint8(i), maxPayload)...)
		}
		p := newPacketIO(&memConn{r: bytes.NewReader(wire)}, 1<<20)
		var err error
		alloc := heapAllocDelta(func() { _, err = p.readPacket() })
		if !errors.Is(err, ErrPacketTooLarge) {
			t.Fatalf("readPacket = %v, want ErrPacketTooLarge", err)
		}
		if alloc > 1<<20 {
			t.Errorf("readPacket allocated %d bytes", alloc)
		}
	})
}

func TestReadPacketShortInput(t *testing.T) {
	full := frameBytes(0, []byte("hello world"))
	for i := 0; i < len(full); i++ {
		p := newPacketIO(&memConn{r: bytes.NewReader(full[:i])}, 1<<20)
		_, err := p.readPacket()
		if err == nil {
			t.Fatalf("readPacket(% x) succeeded on a truncated packet", full[:i])
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("readPacket(%d of %d bytes) = %v, want EOF or unexpected EOF", i, len(full), err)
		}
	}
}

// parseFrames splits wire bytes into frames.
func parseFrames(t *testing.T, wire []byte) (seqs []uint8, payloads [][]byte) {
	t.Helper()
	for len(wire) > 0 {
		if len(wire) < 4 {
			t.Fatalf("trailing %d bytes are not a frame header", len(wire))
		}
		n := int(wire[0]) | int(wire[1])<<8 | int(wire[2])<<16
		if len(wire) < 4+n {
			t.Fatalf("frame of %d bytes truncated to %d", n, len(wire)-4)
		}
		seqs = append(seqs, wire[3])
		payloads = append(payloads, wire[4:4+n])
		wire = wire[4+n:]
	}
	return seqs, payloads
}

func TestWritePacketSplits(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		frames []int
	}{
		{"empty", 0, []int{0}},
		{"small", 100, []int{100}},
		{"one below the limit", maxPayload - 1, []int{maxPayload - 1}},
		{"exactly 0xFFFFFF", maxPayload, []int{maxPayload, 0}},
		{"16 MiB + 10", 16<<20 + 10, []int{maxPayload, 11}},
		{"two full frames", 2 * maxPayload, []int{maxPayload, maxPayload, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newPacketIO(&memConn{w: &out}, 0)
			p.seq = 250 // sequence numbers wrap
			payload := pattern(tt.size, 3)
			if err := p.writePacket(payload); err != nil {
				t.Fatal(err)
			}
			if err := p.flush(); err != nil {
				t.Fatal(err)
			}
			seqs, frames := parseFrames(t, out.Bytes())
			if len(frames) != len(tt.frames) {
				t.Fatalf("%d frames, want %d", len(frames), len(tt.frames))
			}
			var joined []byte
			for i, f := range frames {
				if len(f) != tt.frames[i] {
					t.Errorf("frame %d is %d bytes, want %d", i, len(f), tt.frames[i])
				}
				if want := uint8(250 + i); seqs[i] != want {
					t.Errorf("frame %d has sequence %d, want %d", i, seqs[i], want)
				}
				joined = append(joined, f...)
			}
			if !bytes.Equal(joined, payload) {
				t.Errorf("frames do not join to the payload")
			}
			if want := uint8(250 + len(tt.frames)); p.seq != want {
				t.Errorf("sequence after write = %d, want %d", p.seq, want)
			}
			// What writePacket splits, readPacket joins.
			r := newPacketIO(&memConn{r: bytes.NewReader(out.Bytes())}, 64<<20)
			r.seq = 250
			got, err := r.readPacket()
			if err != nil || !bytes.Equal(got, payload) {
				t.Errorf("readPacket(writePacket(x)) = %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestRelayFrames relays frames smaller and larger than the 64 KiB read buffer with
// peekFrame / copyFrameTo and checks the output byte by byte, with the destination's
// sequence numbers.
func TestRelayFrames(t *testing.T) {
	sizes := []int{0, 1, 9, 1000, ioBufferSize - 1, ioBufferSize, ioBufferSize + 1, 3*ioBufferSize + 17, 1 << 20, maxPayload - 1}
	for _, viaTCP := range []bool{false, true} {
		name := "memory"
		if viaTCP {
			name = "tcp"
		}
		t.Run(name, func(t *testing.T) {
			var wire []byte
			var payloads [][]byte
			for i, n := range sizes {
				pl := pattern(n, byte(i))
				payloads = append(payloads, pl)
				wire = append(wire, frameBytes(uint8(i), pl)...)
			}
			var src *packetIO
			if viaTCP {
				a, b := tcpPair(t)
				sent := sendAsync(a, wire)
				defer func() { <-sent }()
				src = newPacketIO(b, 0)
			} else {
				src = newPacketIO(&memConn{r: bytes.NewReader(wire)}, 0)
			}
			var out bytes.Buffer
			dst := newPacketIO(&memConn{w: &out}, 0)
			dst.seq = 200
			for i, n := range sizes {
				f, err := src.peekFrame()
				if err != nil {
					t.Fatalf("peekFrame %d: %v", i, err)
				}
				if f.length != n {
					t.Fatalf("frame %d length = %d, want %d", i, f.length, n)
				}
				if n <= ioBufferSize {
					if f.payload == nil || !bytes.Equal(f.payload, payloads[i]) {
						t.Fatalf("frame %d (%d bytes) not peeked whole", i, n)
					}
				} else if f.payload != nil {
					t.Fatalf("frame %d of %d bytes peeked (%d bytes) though larger than the buffer", i, n, len(f.payload))
				}
				if err, writeSide := src.copyFrameTo(dst, f); err != nil {
					t.Fatalf("copyFrameTo %d: %v (write side %v)", i, err, writeSide)
				}
			}
			if err := dst.flush(); err != nil {
				t.Fatal(err)
			}
			var want []byte
			for i, pl := range payloads {
				want = append(want, frameBytes(uint8(200+i), pl)...)
			}
			if !bytes.Equal(out.Bytes(), want) {
				seqs, frames := parseFrames(t, out.Bytes())
				t.Fatalf("relayed bytes differ: got %d frames (seqs %v), %d bytes; want %d frames, %d bytes",
					len(frames), seqs, out.Len(), len(sizes), len(want))
			}
			if src.seq != uint8(len(sizes)) || dst.seq != uint8(200+len(sizes)) {
				t.Errorf("sequences after relay: src %d dst %d", src.seq, dst.seq)
			}
		})
	}
}

func TestSkipFrame(t *testing.T) {
	var wire []byte
	wire = append(wire, frameBytes(0, []byte("skip me"))...)
	wire = append(wire, frameBytes(1, pattern(ioBufferSize+500, 1))...) // larger than the buffer
	wire = append(wire, frameBytes(2, []byte("after"))...)
	src := newPacketIO(&memConn{r: bytes.NewReader(wire)}, 0)
	for i := 0; i < 2; i++ {
		f, err := src.peekFrame()
		if err != nil {
			t.Fatal(err)
		}
		if err := src.skipFrame(f); err != nil {
			t.Fatalf("skipFrame %d (%d bytes): %v", i, f.length, err)
		}
	}
	f, err := src.peekFrame()
	if err != nil || string(f.payload) != "after" {
		t.Fatalf("frame after skips = %q, %v", f.payload, err)
	}
}

func TestCopyFrameToErrorSide(t *testing.T) {
	wire := frameBytes(0, pattern(4*ioBufferSize, 9))
	t.Run("destination fails", func(t *testing.T) {
		src := newPacketIO(&memConn{r: bytes.NewReader(wire)}, 0)
		dst := newPacketIO(&memConn{writeErr: errors.New("client gone")}, 0)
		f, err := src.peekFrame()
		if err != nil {
			t.Fatal(err)
		}
		err, writeSide := src.copyFrameTo(dst, f)
		if err == nil || !writeSide {
			t.Fatalf("copyFrameTo = %v, write side %v; want an error from the write side", err, writeSide)
		}
	})
	t.Run("source cut off", func(t *testing.T) {
		src := newPacketIO(&memConn{r: bytes.NewReader(wire[:len(wire)/2])}, 0)
		dst := newPacketIO(&memConn{}, 0)
		f, err := src.peekFrame()
		if err != nil {
			t.Fatal(err)
		}
		err, writeSide := src.copyFrameTo(dst, f)
		if err == nil || writeSide {
			t.Fatalf("copyFrameTo = %v, write side %v; want an error from the read side", err, writeSide)
		}
	})
}
