package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte("[proxy]\n[[users]]\nname = \"app\"\npassword = \"pw\"\n[primary]\naddress = \"127.0.0.1:3306\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("[proxy]\nmax_connections = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"check a good file", []string{"-check", "-config", good}, 0},
		{"check a bad file", []string{"-check", "-config", bad}, 1},
		{"version", []string{"-version"}, 0},
		{"unknown flag", []string{"-chek"}, 2},
		// The file named without -config is not the one -check would read.
		{"file without -config", []string{"-check", "-config", good, bad}, 2},
		{"file without -config, default path", []string{"-check", bad}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.args); got != tc.want {
				t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
