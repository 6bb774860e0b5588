package integration

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// byteCounter is a TCP forwarder to target that counts the bytes of each direction as
// they pass, so a test can see what crossed the client's wire.
type byteCounter struct {
	addr           string
	toClient, toTG atomic.Int64
}

// countingWriter counts what it writes.
type countingWriter struct {
	net.Conn
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func countBytes(t *testing.T, target string) *byteCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bc := &byteCounter{addr: ln.Addr().String()}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			pipe := func(dst, src net.Conn, n *atomic.Int64) {
				defer wg.Done()
				// Plain io.Copy would splice around a wrapper; copy through a buffer.
				_, _ = io.CopyBuffer(countingWriter{dst, n}, struct{ io.Reader }{src}, make([]byte, 32<<10))
				_ = dst.Close()
				_ = src.Close()
			}
			wg.Add(2)
			go pipe(up, c, &bc.toTG)
			go pipe(c, up, &bc.toClient)
		}
	}()
	return bc
}

// TestCompression: clients that ask for protocol compression get it from tailgate (which
// talks to the backends uncompressed), with identical results; routing is unchanged; with
// proxy.compression off they fall back to plain packets.
func TestCompression(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	fw := countBytes(t, tg.addr)
	open := func(addr, params string) *sql.DB {
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/tailgate_test?%s", cluster.AppUser, cluster.AppPassword, addr, params))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	compressed := open(fw.addr, "compress=true&interpolateParams=false")
	mustExec(t, compressed, "CREATE TABLE IF NOT EXISTS compressed (id INT PRIMARY KEY, body LONGTEXT)")
	mustExec(t, compressed, "DELETE FROM compressed")

	const valueLen = 1 << 20
	value := strings.Repeat("tailgate ", valueLen/9+1)[:valueLen]
	before := fw.toTG.Load()
	if _, err := compressed.Exec("INSERT INTO compressed VALUES (1, ?)", value); err != nil {
		t.Fatalf("insert of a 1 MiB value, compressed: %v", err)
	}
	sent := fw.toTG.Load() - before
	waitSeenReplicated(t, tg, shared) // read-your-writes: replicas serve once tailgate saw them apply it

	before = fw.toClient.Load()
	var got string
	var id int
	if err := compressed.QueryRow("SELECT body, @@server_id FROM compressed WHERE id = 1").Scan(&got, &id); err != nil {
		t.Fatalf("select, compressed: %v", err)
	}
	received := fw.toClient.Load() - before
	if got != value {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(value))
	}
	if id == int(shared.Primary.ServerID) {
		t.Errorf("a compressed autocommit read went to the primary")
	}
	t.Logf("1 MiB value: %d bytes sent compressed by the client, %d received (%.2f%%, %.2f%%)",
		sent, received, 100*float64(sent)/valueLen, 100*float64(received)/valueLen)
	if sent > valueLen/20 || received > valueLen/20 {
		t.Errorf("compressed wire bytes: sent %d, received %d for a %d-byte repetitive value: want < 5%%", sent, received, valueLen)
	}

	// Prepared statements and a many-row result, compared with a plain connection.
	plain := open(tg.addr, "")
	for _, db := range []*sql.DB{compressed, plain} {
		var sum, n int64
		if err := db.QueryRow("SELECT SUM(seq), COUNT(*) FROM seq_1_to_100000 WHERE seq % ? = 0", 3).Scan(&sum, &n); err != nil {
			t.Fatal(err)
		}
		if n != 33333 || sum != 1666683333 {
			t.Errorf("SUM/COUNT over seq_1_to_100000: %d %d", sum, n)
		}
		rows, err := db.Query("SELECT seq, REPEAT('x', seq % 300) FROM seq_1_to_20000")
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for rows.Next() {
			var seq int
			var s string
			if err := rows.Scan(&seq, &s); err != nil {
				t.Fatal(err)
			}
			if len(s) != seq%300 {
				t.Fatalf("row %d: %d bytes", seq, len(s))
			}
			count++
		}
		if err := rows.Err(); err != nil || count != 20000 {
			t.Fatalf("20,000-row result: %d rows, %v", count, err)
		}
		_ = rows.Close()
	}

	t.Run("mariadb client", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		direct, _, code := mariadbClient(ctx, t, shared.Primary.Addr(), cliScript, "--batch", "--compress", "gotest")
		if code != 0 {
			t.Fatalf("script directly, compressed: exit code %d", code)
		}
		out, errOut, code := mariadbClient(ctx, t, fw.addr, cliScript, "--batch", "--compress", "gotest")
		if code != 0 || out != direct || errOut != "" {
			t.Errorf("mariadb --compress through tailgate: exit code %d, stderr %q; output equal to direct: %v", code, errOut, out == direct)
		}
	})

	t.Run("off", func(t *testing.T) {
		cfg := testConfig(shared)
		cfg.Proxy.Compression = false
		off := countBytes(t, startTailgate(t, cfg).addr)
		db := open(off.addr, "compress=true")
		var got string
		if err := db.QueryRow("SELECT body FROM compressed WHERE id = 1").Scan(&got); err != nil || got != value {
			t.Fatalf("compress=true client with compression off: %d bytes, %v", len(got), err)
		}
		if n := off.toClient.Load(); n < valueLen {
			t.Errorf("with proxy.compression off, %d bytes reached the client for a %d-byte value: it must not be compressed", n, valueLen)
		}
	})
}
