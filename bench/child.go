package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is a process the bench runs (tailgate, HAProxy), with its output in a log file.
type child struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // cmd.Wait's result, valid once done is closed
	logPath string        // its stdout and stderr
}

// start runs bin with args, its output going to c.logPath. It gets its own process group,
// so a terminal's Ctrl-C reaches only this program, which then stops it with SIGTERM;
// PDEATHSIG takes it along if this program dies any other way.
func (c *child) start(bin string, args ...string) error {
	logFile, err := os.Create(c.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	c.done = make(chan struct{})
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	return nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// cpuTicks is the process's user+system CPU time so far (all its threads), in clock ticks.
func (c *child) cpuTicks() (int64, error) { return procCPUTicks(c.pid()) }

// stop sends SIGTERM and waits for the process to exit; after timeout it kills its process
// group.
func (c *child) stop(timeout time.Duration) error {
	if c == nil || c.cmd == nil || c.exited() {
		return nil
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM %s: %w", c.name, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
		return nil
	case <-timer.C:
		_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", c.name, timeout)
	}
}

// logTail is the last n lines of the log.
func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", c.logPath, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return tailOf(string(b), n)
}
