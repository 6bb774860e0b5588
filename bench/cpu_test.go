package main

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMachineTicks(t *testing.T) {
	stat := "cpu  5518269 7714 2512207 4668694 79449 0 767858 2878 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1\n"
	got, err := parseMachineTicks([]byte(stat))
	want := machineTicks{total: 5518269 + 7714 + 2512207 + 4668694 + 79449 + 767858 + 2878, idle: 4668694 + 79449, steal: 2878}
	if err != nil || got != want {
		t.Fatalf("parseMachineTicks = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3 4 5 6 7\n", "cpu 1 2 x 4 5 6 7 8 0 0\n", ""} {
		if m, err := parseMachineTicks([]byte(bad)); err == nil {
			t.Errorf("parseMachineTicks(%q) = %+v, want an error", bad, m)
		}
	}
	if m, err := readMachineTicks(); err != nil || m.total <= 0 || m.idle > m.total {
		t.Errorf("readMachineTicks() = %+v, %v", m, err)
	}
}

func TestServersTicks(t *testing.T) {
	self, err := serversTicks([]int{os.Getpid(), os.Getpid()})
	if err != nil || self < 0 {
		t.Fatalf("serversTicks(self, self) = %d, %v", self, err)
	}
	for _, pids := range [][]int{nil, {os.Getpid(), 0}} {
		if _, err := serversTicks(pids); err == nil {
			t.Errorf("serversTicks(%v) gave no error", pids)
		}
	}
}

func TestCPUUseOf(t *testing.T) {
	const hz = 100 // 1 tick = 10,000 us
	before := cpuSample{machine: machineTicks{total: 1000, idle: 300, steal: 10}, tailgate: 50, haproxy: 20, servers: 400}
	after := cpuSample{machine: machineTicks{total: 1200, idle: 320, steal: 12}, tailgate: 90, haproxy: 21, servers: 480}
	sb := 300 * time.Millisecond

	got, ok := cpuUseOf(before, after, sb, targetTailgate, hz)
	want := cpuUse{Machine: 2e6, Idle: 2e5, Steal: 2e4, Servers: 8e5, Sysbench: 3e5, Proxy: 4e5, Other: 3e5}
	if !ok || got != want {
		t.Errorf("tailgate run: %+v, %v; want %+v", got, ok, want)
	}
	got, ok = cpuUseOf(before, after, sb, targetL4, hz)
	if want.Proxy, want.Other = 1e4, 6.9e5; !ok || got != want {
		t.Errorf("l4 run: %+v, %v; want %+v", got, ok, want)
	}
	got, ok = cpuUseOf(before, after, sb, targetDirect, hz)
	if want.Proxy, want.Other = 0, 7e5; !ok || got != want {
		t.Errorf("direct run: %+v, %v; want %+v", got, ok, want)
	}
	if per := want.perQuery(1000); per.Machine != 2000 || per.Other != 700 || per.Servers != 800 {
		t.Errorf("perQuery(1000) = %+v", per)
	}
	if per := want.perQuery(0); per != (cpuUse{}) {
		t.Errorf("perQuery(0) = %+v, want zero", per)
	}

	// A reading that failed leaves the run without a CPU split.
	noServers := after
	noServers.servers = -1
	noTailgate := after
	noTailgate.tailgate = -1
	noMachine := after
	noMachine.machine.total = -1
	for name, c := range map[string]struct {
		after  cpuSample
		sb     time.Duration
		target string
	}{
		"servers": {noServers, sb, targetDirect}, "tailgate": {noTailgate, sb, targetTailgate},
		"machine": {noMachine, sb, targetDirect}, "sysbench": {after, 0, targetDirect},
	} {
		if got, ok := cpuUseOf(before, c.after, c.sb, c.target, hz); ok {
			t.Errorf("without the %s reading: %+v, ok", name, got)
		}
	}
	// HAProxy's reading is not needed for a tailgate run.
	noL4 := after
	noL4.haproxy = -1
	if _, ok := cpuUseOf(before, noL4, sb, targetTailgate, hz); !ok {
		t.Error("a tailgate run needed HAProxy's reading")
	}
}

func TestSampleCPU(t *testing.T) {
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := &child{name: "self", cmd: &exec.Cmd{Process: p}}
	s := sampleCPU(self, nil, []int{os.Getpid()})
	if len(s.errs) > 0 || s.machine.total <= 0 || s.tailgate < 0 || s.servers < 0 || s.haproxy != -1 {
		t.Errorf("sampleCPU(self, nil, self) = %+v", s)
	}
	s = sampleCPU(self, self, []int{0})
	if s.servers != -1 || s.haproxy < 0 || !reflect.DeepEqual(s.errs, []string{"servers CPU: a server is not running"}) {
		t.Errorf("sampleCPU with a stopped server = %+v", s)
	}
	if notes := cpuNotes(s, s); len(notes) != 2 || !strings.HasPrefix(notes[0], "before: servers CPU") || !strings.HasPrefix(notes[1], "after: ") {
		t.Errorf("cpuNotes = %q", notes)
	}
}
