package daemon

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	bolt "go.etcd.io/bbolt"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/problems"
)

// problemsBucket holds what problem detection learnt from each mail in
// the window, keyed by arrival (8 bytes, big-endian nanoseconds) and
// ticket id, so a restart rebuilds the groups and old entries are pruned
// from the front.
var problemsBucket = []byte("problems")

// problemPruneEvery is how many recorded mails pass between two prunes of
// the bucket.
const problemPruneEvery = 1024

// problemState is the daemon's problem detection: the detector and the
// count of records since the last prune. A config reload replaces it.
type problemState struct {
	det     *problems.Detector
	written atomic.Uint64 // records written, for pruning now and then
}

// problemMetrics are registered once; they read whichever detector is
// active, so a reload that turns detection off or on keeps the series.
type problemMetrics struct {
	tickets prometheus.Counter
	open    prometheus.GaugeFunc
}

func newProblemMetrics(m *Metrics, active *atomic.Pointer[problemState]) problemMetrics {
	f := promauto.With(m.Registry)
	return problemMetrics{
		tickets: f.NewCounter(prometheus.CounterOpts{Name: "triage_problem_tickets_total", Help: "Mails that belonged to a problem (a group of at least problems.min_size) when handled."}),
		open: f.NewGaugeFunc(prometheus.GaugeOpts{Name: "triage_problems_open", Help: "Problems (groups of at least problems.min_size mails) within the window."},
			func() float64 {
				if ps := active.Load(); ps != nil {
					return float64(ps.det.Open())
				}
				return 0
			})}
}

// newProblemState restores a detector with cfg's settings from the store,
// or returns nil when detection is off.
func newProblemState(cfg config.ProblemsConfig, store *Store) (*problemState, error) {
	if !cfg.On() {
		return nil, nil
	}
	det := problems.New(cfg.Detector())
	now := time.Now()
	recs, err := store.ProblemMails(now.Add(-det.Config().Window))
	if err != nil {
		return nil, err
	}
	det.Restore(recs, now)
	return &problemState{det: det}, nil
}

// observeProblem runs problem detection on a decoded mail and puts what it
// found in meta for the rules and the ticket. The record is written to the
// state store off the message's path.
func (d *Daemon) observeProblem(mail *classifier.Mail, meta *classifier.Meta) {
	ps := d.problems.Load()
	if ps == nil {
		return
	}
	m, rec := classifier.ObserveProblem(ps.det, mail, meta)
	if rec == nil {
		return // seen before: counted and stored then
	}
	if m.Problem != "" {
		d.problemMetrics.tickets.Inc()
	}
	window := ps.det.Config().Window
	d.records.Go(func() {
		if err := d.store.RecordProblemMail(*rec); err != nil {
			d.log.Warn("state store: problem record not written", "id", rec.ID, "err", err)
			return
		}
		// Prune now and then: at most one batch of writes in the way.
		if n := ps.written.Add(1); n%problemPruneEvery == 0 {
			if err := d.store.PruneProblemMails(time.Now().Add(-window)); err != nil {
				d.log.Warn("state store: problem records not pruned", "err", err)
			}
		}
	})
}

// problemKey orders records by arrival; a time before 1970 (or the zero
// time) sorts first.
func problemKey(at time.Time, id string) []byte {
	var ns uint64
	if at.After(time.Unix(0, 0)) {
		ns = uint64(at.UnixNano())
	}
	return append(binary.BigEndian.AppendUint64(nil, ns), id...)
}

// RecordProblemMail keeps what problem detection learnt from one mail.
func (s *Store) RecordProblemMail(r problems.Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state record problem: %w", err)
	}
	if err := s.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(problemsBucket)
		if err != nil {
			return err
		}
		return b.Put(problemKey(r.At, r.ID), v)
	}); err != nil {
		return fmt.Errorf("state record problem: %w", err)
	}
	return nil
}

// ProblemMails returns the records of mail that arrived at or after since.
func (s *Store) ProblemMails(since time.Time) ([]problems.Record, error) {
	var out []problems.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(problemsBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(problemKey(since, "")); k != nil; k, v = c.Next() {
			var r problems.Record
			if json.Unmarshal(v, &r) == nil {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state problem records: %w", err)
	}
	return out, nil
}

// PruneProblemMails deletes the records of mail that arrived before cutoff.
func (s *Store) PruneProblemMails(cutoff time.Time) error {
	end := problemKey(cutoff, "")
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(problemsBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil && string(k) < string(end); k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state prune problems: %w", err)
	}
	return nil
}
