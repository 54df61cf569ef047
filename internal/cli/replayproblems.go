package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/problems"
)

// Bounds of the problems a replay reports.
const (
	maxReportedProblems = 50
	maxProblemMessages  = 100 // message ids per problem in --json
	maxProblemSubjects  = 3   // subjects per problem in the text report
)

// problemSeen is one problem a replay found, over the whole replay (a
// problem's size is the most mails it had within the window at once).
type problemSeen struct {
	ID         string    `json:"id"`
	Size       int       `json:"size"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	Summary    string    `json:"summary"`
	MessageIDs []string  `json:"message_ids"`
	subjects   []string
}

// problemTally runs problem detection over a replay, as the daemon does,
// and keeps every problem it saw.
type problemTally struct {
	det  *problems.Detector
	seen map[string]*problemSeen
	last time.Time // the latest arrival so far
}

func newProblemTally() *problemTally {
	return &problemTally{det: problems.New(problems.Config{}), seen: map[string]*problemSeen{}}
}

// observe runs detection on mail and puts what it found in meta.
func (p *problemTally) observe(mail *classifier.Mail, meta *classifier.Meta) {
	p.last = meta.ReceivedAt
	m, _ := classifier.ObserveProblem(p.det, mail, meta)
	if m.Problem == "" {
		return
	}
	s := p.seen[m.Problem]
	if s == nil {
		s = &problemSeen{ID: m.Problem, FirstSeen: m.FirstSeen, MessageIDs: []string{}}
		p.seen[m.Problem] = s
		// The mails that made the group a problem came before this one.
		for _, r := range p.det.Problems() {
			if r.ID != m.Problem {
				continue
			}
			for _, rec := range r.Mails {
				if rec.ID != mail.ID {
					s.add(rec.MessageID, rec.Subject)
				}
			}
		}
	}
	s.Size = max(s.Size, m.Size)
	s.LastSeen = meta.ReceivedAt
	s.Summary = m.Summary
	s.add(mail.MessageID, mail.Subject)
}

func (s *problemSeen) add(messageID, subject string) {
	if len(s.MessageIDs) < maxProblemMessages {
		s.MessageIDs = append(s.MessageIDs, messageID)
	}
	if len(s.subjects) < maxProblemSubjects {
		s.subjects = append(s.subjects, subject)
	}
}

// report lists the problems, largest first.
func (p *problemTally) report() []problemSeen {
	out := make([]problemSeen, 0, len(p.seen))
	for _, s := range p.seen {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b problemSeen) int { return cmp.Or(b.Size-a.Size, a.FirstSeen.Compare(b.FirstSeen)) })
	return out[:min(len(out), maxReportedProblems)]
}

func writeProblems(w io.Writer, ps []problemSeen) {
	fmt.Fprintf(w, "\nproblems (largest first)\n")
	if len(ps) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, p := range ps {
		fmt.Fprintf(w, "  %-16s %4d mails  %s … %s  %s\n", printable(p.ID), p.Size,
			p.FirstSeen.UTC().Format("2006-01-02 15:04"), p.LastSeen.UTC().Format("15:04"), printable(p.Summary))
		for _, s := range p.subjects {
			fmt.Fprintf(w, "      %s\n", printable(s))
		}
	}
}
