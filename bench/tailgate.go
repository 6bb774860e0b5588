package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tailgate-proxy/tailgate/integration/cluster"
)

// tailgateProc is bin/tailgate running as a child process in front of the cluster.
type tailgateProc struct {
	child
	addr   string
	port   int
	socket string // its proxy.socket with -sockets all
	dir    string // config and log
}

// tailgateConfig is the generated configuration: the cluster's nodes (at their unix sockets
// unless sockets is none; with all, tailgate listens on socket too), the monitor account for
// the binlog tailer, and defaults for everything else (lag, consistency).
func tailgateConfig(listen, socket string, c *cluster.Cluster, sockets string) string {
	address := func(n *cluster.Node) string {
		if sockets != socketsNone {
			return n.Socket
		}
		return n.Addr()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by tailgate's bench (make bench).\n")
	fmt.Fprintf(&b, "[proxy]\nlisten = %q\nshutdown_timeout = \"5s\"\n", listen)
	if sockets == socketsAll {
		fmt.Fprintf(&b, "socket = %q\n", socket)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "[[users]]\nname = %q\npassword = %q\n\n", cluster.AppUser, cluster.AppPassword)
	fmt.Fprintf(&b, "[primary]\naddress = %q\n\n", address(c.Primary))
	for _, r := range c.Replicas {
		fmt.Fprintf(&b, "[[replicas]]\nname = %q\naddress = %q\n\n", r.Name, address(r))
	}
	fmt.Fprintf(&b, "[replication]\nuser = %q\npassword = %q\nserver_id = 4200001\n\n",
		cluster.MonitorUser, cluster.MonitorPassword)
	fmt.Fprintf(&b, "[log]\nlevel = \"info\"\n")
	return b.String()
}

// startTailgate writes a config into dir (with unix sockets as -sockets says), starts bin and
// waits until it answers a MySQL ping.
func startTailgate(ctx context.Context, bin string, c *cluster.Cluster, dir, sockets string) (*tailgateProc, error) {
	ports, err := cluster.FreePorts(1)
	if err != nil {
		return nil, err
	}
	t := &tailgateProc{
		child: child{name: "tailgate", logPath: filepath.Join(dir, "tailgate.log")},
		addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		port:  ports[0],
		dir:   dir,
	}
	if sockets == socketsAll {
		t.socket = filepath.Join(dir, "tg.sock")
	}
	cfgPath := filepath.Join(dir, "tailgate.toml")
	if err := os.WriteFile(cfgPath, []byte(tailgateConfig(t.addr, t.socket, c, sockets)), 0o600); err != nil {
		return nil, err
	}
	if err := t.start(bin, "-config", cfgPath); err != nil {
		return nil, err
	}
	if err := t.waitReady(ctx, 30*time.Second); err != nil {
		_ = t.stop(5 * time.Second)
		return nil, fmt.Errorf("tailgate did not come up: %w\n--- %s (tail) ---\n%s", err, t.logPath, t.logTail(20))
	}
	return t, nil
}

// db opens a go-sql-driver pool to tailgate as the application user; a quiet pool does not log
// failed connections (expected while tailgate starts).
func (t *tailgateProc) db(quiet bool) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	if quiet {
		cfg.Logger = quietLogger{}
	}
	cfg.User, cfg.Passwd = cluster.AppUser, cluster.AppPassword
	cfg.Net, cfg.Addr = "tcp", t.addr
	cfg.DBName = database
	cfg.Timeout = 2 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// waitReady pings tailgate through the MySQL protocol until it answers, it exits, or timeout.
func (t *tailgateProc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := t.db(true)
	if err != nil {
		return err
	}
	defer db.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = db.PingContext(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-t.done:
			return fmt.Errorf("tailgate exited: %v", t.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last ping: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// waitReplicaReads waits until an autocommit SELECT through tailgate is answered by a replica,
// which shows that tailgate considers the replicas fresh. It returns the server ids that answered.
func (t *tailgateProc) waitReplicaReads(ctx context.Context, primaryID uint32, timeout time.Duration) ([]uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := t.db(false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		seen := map[uint32]bool{}
		var ids []uint32
		for range 4 {
			var id uint32
			if err := db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
				return ids, fmt.Errorf("SELECT @@server_id through tailgate: %w", err)
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(ids) > 1 || ids[0] != primaryID {
			return ids, nil
		}
		select {
		case <-ctx.Done():
			return ids, ctx.Err()
		case <-tick.C:
		}
	}
}

// procCPUTicks reads utime+stime (fields 14 and 15) from /proc/<pid>/stat.
func procCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (int64, error) {
	// The command name (field 2) is in parentheses and may itself hold spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want 13 or more", len(f))
	}
	utime, err1 := strconv.ParseInt(f[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return utime + stime, nil
}

// atClkTck is the auxiliary vector entry that carries sysconf(_SC_CLK_TCK).
const atClkTck = 17

// clockTicks returns the kernel's clock tick rate (what `getconf CLK_TCK` prints) from this
// process's auxiliary vector, which is where libc's sysconf reads it; 100 if that fails.
func clockTicks() (hz int64, source string) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		word := strconv.IntSize / 8
		for i := 0; i+2*word <= len(b); i += 2 * word {
			var key, val uint64
			if word == 8 {
				key, val = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
			} else {
				key, val = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+4:]))
			}
			if key == 0 {
				break
			}
			if key == atClkTck && val > 0 {
				return int64(val), "AT_CLKTCK in /proc/self/auxv"
			}
		}
	}
	return 100, "assumed 100 (AT_CLKTCK not readable)"
}

type quietLogger struct{}

func (quietLogger) Print(...any) {}
