package daemon

import (
	"fmt"
	"reflect"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/queue"
)

type sinkEntry struct {
	cfg  queue.Config
	sink queue.Sink
}

// buildSinks (re)creates the sinks whose config changed and swaps in a new router.
func (d *Daemon) buildSinks(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := map[string]sinkEntry{}
	var created []queue.Sink
	for name, qc := range cfg.Queues {
		if old, ok := d.sinks[name]; ok && reflect.DeepEqual(old.cfg, qc) {
			next[name] = old
			continue
		}
		s, err := queue.New(name, qc, cfg.Resolve("."), d.log.With("queue", name),
			queue.WithTrackerIndex(d.store), queue.WithContent(classifier.DecodeContent))
		if err != nil {
			for _, c := range created {
				_ = c.Close()
			}
			return fmt.Errorf("queue %q: %w", name, err)
		}
		created = append(created, s)
		next[name] = sinkEntry{cfg: qc, sink: s}
	}
	sinks := make(map[string]queue.Sink, len(next))
	for n, e := range next {
		sinks[n] = e.sink
	}
	d.router.Store(queue.NewRouter(sinks, cfg.Queues, d.log, d.queueObserver()))
	// Sinks no longer used are closed once in-flight deliveries had time to finish.
	var stale []queue.Sink
	for name, old := range d.sinks {
		if e, ok := next[name]; !ok || e.sink != old.sink {
			stale = append(stale, old.sink)
		}
	}
	d.sinks = next
	if len(stale) > 0 {
		go func() {
			time.Sleep(cfg.ShutdownTimeout.D() + time.Minute)
			for _, s := range stale {
				_ = s.Close()
			}
		}()
	}
	return nil
}

func (d *Daemon) closeSinks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.sinks {
		if err := e.sink.Close(); err != nil {
			d.log.Warn("close sink", "err", err)
		}
	}
	d.sinks = map[string]sinkEntry{}
}
