package rules

import (
	"runtime"
	"syscall"
	"time"
)

// rusageThread is RUSAGE_THREAD: CPU time of the calling thread only.
const rusageThread = 1

// threadCPU returns the CPU time the current OS thread has used. With the
// goroutine locked to its thread, it measures work done regardless of how
// long the thread waited for a CPU on a loaded machine.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

func lockThread()   { runtime.LockOSThread() }
func unlockThread() { runtime.UnlockOSThread() }
