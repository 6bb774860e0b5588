package config

import (
	"testing"
	"time"
)

func TestSizeUnmarshal(t *testing.T) {
	cases := []struct {
		in   string
		want Size
		err  bool
	}{
		{"1024", 1024, false},
		{"0", 0, false},
		{"64MiB", 64 * MiB, false},
		{"1GiB", GiB, false},
		{"16KiB", 16 * KiB, false},
		{"2TiB", 2 * TiB, false},
		{"512B", 512, false},
		{"64M", 64 * MiB, false},
		{"16k", 16 * KiB, false},
		{"64 mib", 64 * MiB, false},
		{" 8G ", 8 * GiB, false},
		{"64MB", 0, true},
		{"1kb", 0, true},
		{"1.5GiB", 0, true},
		{"-1", 0, true},
		{"MiB", 0, true},
		{"", 0, true},
		{"12XB", 0, true},
		{"9223372036854775807", 1<<63 - 1, false},
		{"9223372036854775808", 0, true},
		{"8388608TiB", 0, true},
	}
	for _, tc := range cases {
		var s Size
		err := s.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("%q: err = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && s != tc.want {
			t.Errorf("%q = %d, want %d", tc.in, s, tc.want)
		}
	}
}

func TestSizeMarshal(t *testing.T) {
	cases := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1000, "1000"},
		{1024, "1KiB"},
		{1536, "1536"},
		{64 * MiB, "64MiB"},
		{GiB, "1GiB"},
		{1536 * MiB, "1536MiB"},
		{3 * TiB, "3TiB"},
	}
	for _, tc := range cases {
		b, err := tc.in.MarshalText()
		if err != nil || string(b) != tc.want {
			t.Errorf("MarshalText(%d) = %q, %v; want %q", int64(tc.in), b, err, tc.want)
		}
		var back Size
		if err := back.UnmarshalText(b); err != nil || back != tc.in {
			t.Errorf("round trip of %d: %d, %v", int64(tc.in), back, err)
		}
	}
}

func TestDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"10s", 10 * time.Second, false},
		{"500ms", 500 * time.Millisecond, false},
		{"1m30s", 90 * time.Second, false},
		{"0", 0, false},
		{"-1s", -time.Second, false}, // parsed; Check refuses negative values
		{"10", 0, true},
		{"soon", 0, true},
		{"", 0, true},
	}
	for _, tc := range cases {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("%q: err = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if tc.err {
			continue
		}
		if d.Duration != tc.want {
			t.Errorf("%q = %v, want %v", tc.in, d.Duration, tc.want)
		}
		b, _ := d.MarshalText()
		var back Duration
		if err := back.UnmarshalText(b); err != nil || back != d {
			t.Errorf("round trip of %q via %q: %v, %v", tc.in, b, back, err)
		}
	}
}
