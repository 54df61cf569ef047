package classifier

import (
	"bytes"
	"io"
	"github.com/emersion/go-message"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	raw := multipart20KB()
	html := ""
	_ = html
	for round := 0; round < 3; round++ {
		n := 2000
		start := cpuNow()
		for i := 0; i < n; i++ {
			Decode(raw, DecodeOptions{})
		}
		t.Logf("decode cpu/op: %v", (cpuNow()-start)/time.Duration(n))
	}
}

func TestZZBaseline(t *testing.T) {
	raw := multipart20KB()
	for round := 0; round < 3; round++ {
		n := 2000
		start := cpuNow()
		for i := 0; i < n; i++ {
			e, _ := message.Read(bytes.NewReader(raw))
			e.Walk(func(path []int, ent *message.Entity, err error) error {
				if ent.MultipartReader() == nil {
					io.Copy(io.Discard, ent.Body)
				}
				return nil
			})
		}
		t.Logf("bare go-message cpu/op: %v", (cpuNow()-start)/time.Duration(n))
	}
}
