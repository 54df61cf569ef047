//go:build !unix

package queue

func processCPU() int64 { return 0 }
