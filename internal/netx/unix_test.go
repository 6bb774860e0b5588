package netx

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenUnix: a socket file left by a listener that is gone is replaced; one a live
// listener holds, or a file that is not a socket, is refused and left alone; the socket is
// open to every local user and removed on close.
func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tg.sock")

	// A process killed while listening leaves its socket file behind.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	_ = stale.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket file should exist: %v", err)
	}

	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatalf("over a stale socket file: %v", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o777 {
		t.Errorf("socket file mode %v, want a socket with mode 0777", fi.Mode())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	_ = c.Close()

	if ln2, err := ListenUnix(path); err == nil || !strings.Contains(err.Error(), "another process is accepting") {
		if ln2 != nil {
			_ = ln2.Close()
		}
		t.Fatalf("second listener on a live socket: %v, want a refusal", err)
	}
	if c, err := net.Dial("unix", path); err != nil {
		t.Fatalf("the refused second listener broke the first: %v", err)
	} else {
		_ = c.Close()
	}

	_ = ln.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}

	// A regular file is never removed.
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ln, err := ListenUnix(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		if ln != nil {
			_ = ln.Close()
		}
		t.Fatalf("over a regular file: %v, want a refusal", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
		t.Fatalf("the regular file was touched: %q, %v", b, err)
	}
}
