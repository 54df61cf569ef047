package daemon

import "github.com/triage-dev/triage/console"

// Problems lists the detector's open problems for the console; nil when
// detection is off.
func (s consoleSource) Problems() []console.Problem {
	ps := s.d.problems.Load()
	if ps == nil {
		return nil
	}
	open := ps.det.Problems()
	out := make([]console.Problem, len(open))
	for i, p := range open {
		cp := console.Problem{ID: p.ID, Summary: p.Summary, Size: p.Size, FirstSeen: p.FirstSeen, LastSeen: p.LastSeen,
			Tickets: make([]console.ProblemTicket, len(p.Mails))}
		for j, m := range p.Mails {
			cp.Tickets[j] = console.ProblemTicket{ID: m.ID, At: m.At, Sender: m.Sender, Subject: m.Subject}
		}
		out[i] = cp
	}
	return out
}

// openProblems counts the open problems without copying them: the
// overview polls it.
func (s consoleSource) openProblems() int {
	ps := s.d.problems.Load()
	if ps == nil {
		return 0
	}
	return ps.det.Open()
}
