package config

import (
	"strings"
	"testing"
)

// TestMemoryLimit: memory_limit defaults to twice max_buffered_bytes plus
// MemoryLimitOverhead (following a changed max_buffered_bytes), takes a
// value as given, and refuses a negative one.
func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		want        int64
		wantErr     string
	}{
		{"default", "", 2*DefaultMaxBufferedBytes + MemoryLimitOverhead, ""},
		{"follows max_buffered_bytes", "max_buffered_bytes: 33554432\n", 2*(32<<20) + MemoryLimitOverhead, ""},
		{"as given", "memory_limit: 1073741824\n", 1 << 30, ""},
		{"negative", "memory_limit: -1\n", 0, "memory_limit must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("triage.yaml", []byte(validConfig+tt.extra))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MemoryLimit != tt.want {
				t.Errorf("memory_limit %d, want %d", cfg.MemoryLimit, tt.want)
			}
		})
	}
}
