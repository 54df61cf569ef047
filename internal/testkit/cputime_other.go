//go:build !unix

package testkit

import "time"

// ProcessCPU is unknown here: both zero.
func ProcessCPU() (total, kernel time.Duration) { return 0, 0 }
