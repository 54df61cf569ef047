//go:build unix

package testkit

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time this process has used so far: user + system,
// and the system (kernel) part of it. Benchmarks report CPU per message
// with it, the figure that matters on a machine whose cores are shared.
// Both are zero where the platform cannot tell.
func ProcessCPU() (total, kernel time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Stime.Nano())
}
