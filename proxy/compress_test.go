package proxy

import (
	"bytes"
	stdzlib "compress/zlib"
	"errors"
	"io"
	"net"
	"testing"
)

// The compressed protocol is checked against the standard library's zlib, an
// implementation independent of the one tailgate uses.

// compPacket encodes one compressed packet carrying plain; deflate chooses a zlib body
// (else the bytes go as they are, uncompressed length 0).
func compPacket(t testing.TB, seq uint8, plain []byte, deflate bool) []byte {
	t.Helper()
	body, ulen := plain, 0
	if deflate {
		var b bytes.Buffer
		w := stdzlib.NewWriter(&b)
		if _, err := w.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		body, ulen = b.Bytes(), len(plain)
	}
	n := len(body)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq, byte(ulen), byte(ulen >> 8), byte(ulen >> 16)}, body...)
}

// compPackets splits a plain stream into compressed packets of at most chunk bytes,
// numbered from seq, alternately deflated and not.
func compPackets(t testing.TB, seq uint8, plain []byte, chunk int) []byte {
	var out []byte
	for i := 0; len(plain) > 0; i++ {
		n := min(chunk, len(plain))
		out = append(out, compPacket(t, seq, plain[:n], i%2 == 0)...)
		plain = plain[n:]
		seq++
	}
	return out
}

// decodeCompressed reads every compressed packet of b: the plain stream and the
// sequence numbers seen.
func decodeCompressed(t testing.TB, b []byte) (plain []byte, seqs []uint8) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < compHeaderLen {
			t.Fatalf("truncated compressed header: %d bytes", len(b))
		}
		clen := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
		ulen := int(b[4]) | int(b[5])<<8 | int(b[6])<<16
		seqs = append(seqs, b[3])
		body := b[compHeaderLen : compHeaderLen+clen]
		b = b[compHeaderLen+clen:]
		if ulen == 0 {
			plain = append(plain, body...)
			continue
		}
		r, err := stdzlib.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != ulen {
			t.Fatalf("compressed packet announces %d bytes, holds %d", ulen, len(got))
		}
		plain = append(plain, got...)
	}
	return plain, seqs
}

// TestCompressedReadPacket: plain packets arrive in compressed packets whose boundaries
// fall anywhere, including inside frame headers and across a 16 MiB frame continuation.
func TestCompressedReadPacket(t *testing.T) {
	client, srv := tcpPair(t)
	small := []byte("\x03SELECT 1")
	repetitive := append([]byte{0x03}, bytes.Repeat([]byte("SELECT 'x' UNION ALL "), 50)...)
	big := pattern(maxPayload+1000, 7) // two frames

	var plain []byte
	plain = append(plain, frameBytes(0, small)...)
	plain = append(plain, frameBytes(0, repetitive)...)
	plain = append(plain, frameBytes(0, big[:maxPayload])...)
	plain = append(plain, frameBytes(1, big[maxPayload:])...)
	// small and repetitive in one packet each, then the big one in 1 MiB pieces.
	wire := compPacket(t, 0, plain[:4+len(small)], false)
	wire = append(wire, compPacket(t, 0, plain[4+len(small):8+len(small)+len(repetitive)], true)...)
	wire = append(wire, compPackets(t, 0, plain[8+len(small)+len(repetitive):], 1<<20+3)...)
	go func() { _, _ = client.Write(wire) }()

	p := newPacketIO(srv, 64<<20)
	p.compress()
	for i, want := range [][]byte{small, repetitive, big} {
		p.resetSeq()
		got, err := p.readPacket()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("packet %d: got %d bytes, want %d (equal prefix: %v)", i, len(got), len(want), bytes.HasPrefix(want, got[:min(len(got), 16)]))
		}
	}
	// The last compressed packet of the big one was number 17 (0-based 16 MiB pieces: 17
	// packets, 0..16): replies continue at 17.
	if p.seq != 17 || p.cc.seq != 17 {
		t.Errorf("after the last packet: plain seq %d, compressed seq %d; want 17 and 17", p.seq, p.cc.seq)
	}
}

// TestCompressedWrite: a response leaves as compressed packets numbered after the
// command's, short chunks as they are, long ones deflated; plain sequence numbers run on.
func TestCompressedWrite(t *testing.T) {
	client, srv := tcpPair(t)
	go func() { _, _ = client.Write(compPacket(t, 0, frameBytes(0, []byte{0x0e}), false)) }() // COM_PING
	p := newPacketIO(srv, 1<<20)
	p.compress()
	p.resetSeq()
	if _, err := p.readPacket(); err != nil {
		t.Fatal(err)
	}
	rows := [][]byte{[]byte("ok"), bytes.Repeat([]byte("row "), 1000), pattern(200<<10, 3)}
	var want []byte
	for i, r := range rows {
		want = append(want, frameBytes(uint8(1+i), r)...)
		if err := p.writePacket(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	_ = srv.Close()
	wire, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	got, seqs := decodeCompressed(t, wire)
	if !bytes.Equal(got, want) {
		t.Fatalf("plain stream: got %d bytes, want %d", len(got), len(want))
	}
	for i, s := range seqs {
		if s != uint8(1+i) {
			t.Fatalf("compressed sequence numbers %v, want 1, 2, ...", seqs)
		}
	}
	if len(wire) > len(want)/2 {
		t.Errorf("%d plain bytes took %d compressed bytes: the repetitive rows should shrink", len(want), len(wire))
	}
	// After the flush the plain numbering continues from the compressed one (MySQL's
	// net_flush), which is what clients expect in a LOCAL INFILE exchange.
	if p.seq != p.cc.seq {
		t.Errorf("after flush: plain seq %d, compressed %d", p.seq, p.cc.seq)
	}
}

// TestCompressedMalformed: bad compressed packets are errors, never panics or
// oversized allocations.
func TestCompressedMalformed(t *testing.T) {
	valid := compPacket(t, 0, frameBytes(0, bytes.Repeat([]byte("abc"), 100)), true)
	longer := append([]byte(nil), valid...)
	longer[4]-- // announces one byte fewer than the stream holds
	shorter := append([]byte(nil), valid...)
	shorter[4]++ // one byte more
	corrupt := append([]byte(nil), valid...)
	corrupt[len(corrupt)-5] ^= 0xff // breaks the Adler-32 checksum or the stream
	for name, tc := range map[string]struct {
		wire []byte
		want error
	}{
		"not zlib":          {[]byte{3, 0, 0, 0, 10, 0, 0, 'a', 'b', 'c'}, ErrCompressed},
		"longer than said":  {longer, ErrCompressed},
		"shorter than said": {shorter, ErrCompressed},
		"corrupt":           {corrupt, ErrCompressed},
		"truncated":         {valid[:len(valid)-3], io.ErrUnexpectedEOF},
	} {
		t.Run(name, func(t *testing.T) {
			client, srv := net.Pipe()
			defer srv.Close()
			go func() { _, _ = client.Write(tc.wire); _ = client.Close() }()
			p := newPacketIO(srv, 1<<20)
			p.compress()
			_, err := p.readPacket()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzReadCompressedPacket: the packet reader on a compressed connection never panics,
// and never returns more than its limit.
func FuzzReadCompressedPacket(f *testing.F) {
	f.Add(compPacket(f, 0, frameBytes(0, []byte("\x03SELECT 1")), false))
	f.Add(compPacket(f, 0, frameBytes(0, bytes.Repeat([]byte("SELECT 1;"), 40)), true))
	f.Add(compPackets(f, 0, append(frameBytes(0, pattern(3000, 1)), frameBytes(1, []byte("x"))...), 700))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, wire []byte) {
		const limit = 4096
		c := &compConn{r: newPacketIO(&fakeConn{r: bytes.NewReader(wire)}, 0).r}
		p := &packetIO{cc: c, maxRead: limit}
		p.r = newPacketIO(&fakeConn{r: c}, 0).r
		for range 8 {
			got, err := p.readPacket()
			if err != nil {
				return
			}
			if len(got) > limit {
				t.Fatalf("%d bytes returned, limit %d", len(got), limit)
			}
		}
	})
}

// fakeConn is a net.Conn reading from r.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (c *fakeConn) Read(p []byte) (int, error) { return c.r.Read(p) }
