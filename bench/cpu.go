package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuUse is where the machine's CPU time went during one run, in microseconds. A proxy can cost
// more than its own CPU time: the servers may spend more per query behind it, and CPUs left
// idle while every request waits are throughput lost too. Per query, these fields show how the
// extra cost splits.
type cpuUse struct {
	// Machine is every CPU's time during the run (busy, idle or stolen): CPUs x wall time.
	Machine float64 `json:"machine_us"`
	// Idle is the machine's idle and iowait time.
	Idle float64 `json:"idle_us"`
	// Steal is time the hypervisor gave to other guests.
	Steal float64 `json:"steal_us"`
	// Servers is the utime+stime of the cluster's mariadbd processes.
	Servers float64 `json:"servers_us"`
	// Sysbench is the client's user+system time, from its rusage.
	Sysbench float64 `json:"sysbench_us"`
	// Proxy is the utime+stime of the proxy the run went through: tailgate's for tailgate
	// runs, HAProxy's for l4 runs, none for direct runs.
	Proxy float64 `json:"proxy_us"`
	// Other is the time that was neither idle nor used by a measured process: kernel threads,
	// tailgate's or HAProxy's background work in runs that do not go through it, time the
	// hypervisor stole, anything else on the machine; and the difference between the kernel's
	// tick-based machine counts and its per-process ones, which can make it slightly negative.
	Other float64 `json:"other_us"`
}

// fields are c's fields, for code that treats them all alike.
func (c *cpuUse) fields() []*float64 {
	return []*float64{&c.Machine, &c.Idle, &c.Steal, &c.Servers, &c.Sysbench, &c.Proxy, &c.Other}
}

// perQuery divides every field by queries; zero for no queries.
func (c cpuUse) perQuery(queries int64) cpuUse {
	if queries <= 0 {
		return cpuUse{}
	}
	for _, f := range c.fields() {
		*f /= float64(queries)
	}
	return c
}

// ticksMicros converts clock ticks (CLK_TCK hz) to microseconds.
func ticksMicros(ticks, hz int64) float64 { return float64(ticks) * 1e6 / float64(hz) }

// machineTicks is the "cpu" line of /proc/stat: the time of all CPUs, in clock ticks.
type machineTicks struct {
	total, idle, steal int64
}

func readMachineTicks() (machineTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}, err
	}
	return parseMachineTicks(b)
}

// parseMachineTicks reads the first line of /proc/stat: "cpu user nice system idle iowait irq
// softirq steal guest guest_nice". Guest time is already counted in user and nice.
func parseMachineTicks(b []byte) (machineTicks, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return machineTicks{}, fmt.Errorf("/proc/stat: first line %q is not the cpu line with 8 or more fields", line)
	}
	var v [8]int64
	var errs []error
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		errs = append(errs, err)
		v[i] = n
	}
	if err := errors.Join(errs...); err != nil {
		return machineTicks{}, fmt.Errorf("/proc/stat: %w", err)
	}
	var m machineTicks
	for _, n := range v {
		m.total += n
	}
	m.idle, m.steal = v[3]+v[4], v[7]
	return m, nil
}

// cpuSample is the CPU time used so far, in clock ticks, by the machine and by each process
// the bench measures; -1 for a reading that failed (errs says why).
type cpuSample struct {
	machine                    machineTicks
	tailgate, haproxy, servers int64
	errs                       []string
}

// sampleCPU reads the machine's ticks and the processes': tailgate, HAProxy (l4 may be nil:
// then -1 without an error) and the servers whose pids are given, summed.
func sampleCPU(tailgate, l4 *child, servers []int) cpuSample {
	s := cpuSample{machine: machineTicks{total: -1}, tailgate: -1, haproxy: -1, servers: -1}
	if m, err := readMachineTicks(); err != nil {
		s.errs = append(s.errs, "machine CPU: "+err.Error())
	} else {
		s.machine = m
	}
	read := func(what string, ticks func() (int64, error)) int64 {
		t, err := ticks()
		if err != nil {
			s.errs = append(s.errs, what+" CPU: "+err.Error())
			return -1
		}
		return t
	}
	s.tailgate = read("tailgate", tailgate.cpuTicks)
	if l4 != nil {
		s.haproxy = read("haproxy", l4.cpuTicks)
	}
	s.servers = read("servers", func() (int64, error) { return serversTicks(servers) })
	return s
}

// serversTicks is the CPU time of the processes pids, summed; a pid of 0 is a server that is
// not running.
func serversTicks(pids []int) (int64, error) {
	if len(pids) == 0 {
		return 0, errors.New("no servers")
	}
	var sum int64
	for _, pid := range pids {
		if pid == 0 {
			return 0, errors.New("a server is not running")
		}
		t, err := procCPUTicks(pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// ticksDelta is after-before, false when either reading failed.
func ticksDelta(before, after int64) (int64, bool) {
	if before < 0 || after < 0 {
		return 0, false
	}
	return after - before, true
}

// cpuUseOf is where the CPU went between two samples, with sysbench's own time and the proxy
// the run went through (none for direct runs); false when a reading it needs failed.
func cpuUseOf(before, after cpuSample, sysbench time.Duration, target string, hz int64) (cpuUse, bool) {
	us := func(ticks int64) float64 { return ticksMicros(ticks, hz) }
	total, ok1 := ticksDelta(before.machine.total, after.machine.total)
	servers, ok2 := ticksDelta(before.servers, after.servers)
	if !ok1 || !ok2 || sysbench <= 0 {
		return cpuUse{}, false
	}
	c := cpuUse{
		Machine:  us(total),
		Idle:     us(after.machine.idle - before.machine.idle),
		Steal:    us(after.machine.steal - before.machine.steal),
		Servers:  us(servers),
		Sysbench: float64(sysbench.Microseconds()),
	}
	var proxy int64
	ok := true
	switch target {
	case targetTailgate:
		proxy, ok = ticksDelta(before.tailgate, after.tailgate)
	case targetL4:
		proxy, ok = ticksDelta(before.haproxy, after.haproxy)
	}
	c.Proxy = us(proxy)
	c.Other = c.Machine - c.Idle - c.Servers - c.Sysbench - c.Proxy
	return c, ok
}

// cpuNotes are the failed readings of the samples before and after a run.
func cpuNotes(before, after cpuSample) []string {
	var notes []string
	for _, e := range before.errs {
		notes = append(notes, "before: "+e)
	}
	for _, e := range after.errs {
		notes = append(notes, "after: "+e)
	}
	return notes
}
