package integration

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// loadFile is a tab-separated file of (id, payload) rows and what MariaDB should report
// after loading it.
type loadFile struct {
	path   string
	rows   int
	bytes  int64  // the file's size
	length int64  // SUM(LENGTH(payload))
	crc    uint64 // SUM(CRC32(payload))
}

// writeLoadFile writes rows rows with payloads of about payloadLen random letters.
func writeLoadFile(t *testing.T, path string, rows, payloadLen int) loadFile {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	lf := loadFile{path: path, rows: rows}
	rng := rand.New(rand.NewPCG(uint64(rows), uint64(payloadLen)))
	payload := make([]byte, 0, 2*payloadLen)
	for id := 1; id <= rows; id++ {
		payload = payload[:0]
		for range payloadLen/2 + rng.IntN(payloadLen+1) {
			payload = append(payload, byte('a'+rng.IntN(26)))
		}
		n, _ := fmt.Fprintf(w, "%d\t%s\n", id, payload)
		lf.bytes += int64(n)
		lf.length += int64(len(payload))
		lf.crc += uint64(crc32.ChecksumIEEE(payload))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return lf
}

// createLoadTable (re)creates an empty table for loadFile rows.
func createLoadTable(t *testing.T, c *sql.Conn, table string) {
	t.Helper()
	mustExec(t, c, "DROP TABLE IF EXISTS "+table, "CREATE TABLE "+table+" (id INT PRIMARY KEY, payload MEDIUMTEXT NOT NULL)")
}

// checkLoaded compares table with the file that was loaded into it.
func checkLoaded(t *testing.T, q queryer, where, table string, want loadFile) {
	t.Helper()
	var rows int
	var length, crc sql.NullInt64
	err := q.QueryRowContext(context.Background(), "SELECT COUNT(*), SUM(LENGTH(payload)), SUM(CRC32(payload)) FROM "+table).Scan(&rows, &length, &crc)
	if err != nil {
		t.Fatalf("%s: reading %s: %v", where, table, err)
	}
	if rows != want.rows || length.Int64 != want.length || uint64(crc.Int64) != want.crc {
		t.Errorf("%s: %s holds %d rows, %d payload bytes, CRC sum %d; the file had %d, %d, %d",
			where, table, rows, length.Int64, crc.Int64, want.rows, want.length, want.crc)
	}
}

// loadSQL is the statement that loads f into table.
func loadSQL(f loadFile, table string) string {
	return fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s", f.path, table)
}

// TestLoadDataLocal: with proxy.local_infile on, LOAD DATA LOCAL INFILE through tailgate
// loads files of go-sql-driver and the mariadb client into the primary, whole (a file above
// 16 MiB included); a missing file yields the driver's error and the session goes on.
func TestLoadDataLocal(t *testing.T) {
	cfg := testConfig(shared)
	cfg.Proxy.LocalInfile = true
	tg := startTailgate(t, cfg)
	c := conn(t, tg.db(t, "allowAllFiles=true&multiStatements=true"))
	primary, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	dir := t.TempDir()
	ctx := context.Background()

	files := map[string]loadFile{}
	for _, tc := range []struct {
		name             string
		rows, payloadLen int
	}{
		{"10000 rows", 10_000, 40},
		{"over 16 MiB", 17_000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := fmt.Sprintf("load_local_%d", tc.rows)
			createLoadTable(t, c, table)
			f := writeLoadFile(t, filepath.Join(dir, table+".tsv"), tc.rows, tc.payloadLen)
			files[tc.name] = f
			start := time.Now()
			res, err := c.ExecContext(ctx, loadSQL(f, table))
			if err != nil {
				t.Fatalf("%s: %v", loadSQL(f, table), err)
			}
			took := time.Since(start)
			if n, err := res.RowsAffected(); err != nil || n != int64(f.rows) {
				t.Errorf("LOAD DATA LOCAL affected %d rows (%v), want %d", n, err, f.rows)
			}
			t.Logf("loaded %d rows, %d bytes (%.1f MiB) through tailgate in %v", f.rows, f.bytes, float64(f.bytes)/(1<<20), took.Round(time.Millisecond))
			checkLoaded(t, c, "through tailgate", table, f)
			checkLoaded(t, primary, "on the primary", "tailgate_test."+table, f)
		})
	}
	small, ok := files["10000 rows"]
	if !ok {
		t.FailNow()
	}

	t.Run("missing file", func(t *testing.T) {
		missing := loadFile{path: filepath.Join(dir, "missing.tsv")}
		_, err := c.ExecContext(ctx, loadSQL(missing, "load_local_10000"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("LOAD DATA LOCAL of a missing file: %v, want the driver's file-not-found error", err)
		}
		checkLoaded(t, c, "after the missing file", "load_local_10000", small)
	})

	t.Run("multi-statement", func(t *testing.T) {
		createLoadTable(t, c, "load_local_multi")
		rows, err := c.QueryContext(ctx, loadSQL(small, "load_local_multi")+"; SELECT COUNT(*) FROM load_local_multi")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var n int
		for rows.Next() || rows.NextResultSet() && rows.Next() {
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil || n != small.rows {
			t.Fatalf("LOAD DATA LOCAL; SELECT COUNT(*): %d rows, %v; want %d", n, err, small.rows)
		}
	})

	t.Run("mariadb client", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		createLoadTable(t, c, "load_local_cli")
		out, errOut, code := mariadbClient(ctx, t, tg.addr, "", "--local-infile=1", "--batch", "--skip-column-names", "tailgate_test",
			"-e", loadSQL(small, "load_local_cli")+"; SELECT COUNT(*) FROM load_local_cli")
		if code != 0 || strings.TrimSpace(out) != fmt.Sprint(small.rows) {
			t.Fatalf("mariadb --local-infile=1: exit code %d, output %q, stderr %q; want %d rows", code, out, errOut, small.rows)
		}
		// Another session's write: c's read-your-writes does not cover it, the primary has it.
		checkLoaded(t, primary, "on the primary", "tailgate_test.load_local_cli", small)

		// A client that does not ask for local files is refused by the server, as directly.
		_, errOut, code = mariadbClient(ctx, t, tg.addr, "", "--local-infile=0", "tailgate_test", "-e", loadSQL(small, "load_local_cli"))
		if code == 0 || !strings.Contains(errOut, "4166") {
			t.Errorf("mariadb --local-infile=0: exit code %d, stderr %q; want error 4166", code, errOut)
		}
	})

	var n int
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("SELECT 1 after the loads: %d, %v", n, err)
	}
}

// TestLoadDataLocalDisabled: with proxy.local_infile off (the default) tailgate does not
// offer local files, the server refuses LOAD DATA LOCAL INFILE with its own error, nothing
// is loaded, and the session goes on.
func TestLoadDataLocalDisabled(t *testing.T) {
	tg := startTailgate(t, testConfig(shared))
	c := conn(t, tg.db(t, "allowAllFiles=true"))
	ctx := context.Background()
	createLoadTable(t, c, "load_local_off")
	f := writeLoadFile(t, filepath.Join(t.TempDir(), "off.tsv"), 100, 10)

	_, err := c.ExecContext(ctx, loadSQL(f, "load_local_off"))
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) || me.Number != 4166 && me.Number != 1148 {
		t.Fatalf("LOAD DATA LOCAL with local_infile off: %v, want the server's error 4166 or 1148", err)
	}
	t.Logf("refused: %v", err)
	checkLoaded(t, c, "after the refusal", "load_local_off", loadFile{})

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, errOut, code := mariadbClient(ctx, t, tg.addr, "", "--local-infile=1", "tailgate_test", "-e", loadSQL(f, "load_local_off"))
	if code == 0 || !strings.Contains(errOut, "4166") {
		t.Errorf("mariadb --local-infile=1 with local_infile off: exit code %d, stderr %q; want error 4166", code, errOut)
	}
	primary, err := shared.Primary.RootDB()
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	checkLoaded(t, primary, "on the primary", "tailgate_test.load_local_off", loadFile{})
}
