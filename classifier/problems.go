package classifier

import (
	"github.com/triage-dev/triage/problems"
	"github.com/triage-dev/triage/ticket"
)

// ObserveProblem runs problem detection on a decoded mail (automatic
// replies and bounces count for their sender only) and puts what it found
// in meta, for the rules and the ticket. The daemon and replay both use
// it, so they see the same fields.
func ObserveProblem(det *problems.Detector, m *Mail, meta *Meta) (problems.Match, *problems.Record) {
	pm, rec := det.Observe(problems.Mail{ID: m.ID, MessageID: m.MessageID, Sender: m.From.Address,
		Subject: m.Subject, Body: m.Body, At: meta.ReceivedAt, NoGroup: m.AutoReply || m.Bounce})
	meta.SimilarRecent, meta.SenderRecent = pm.Similar, pm.Sender
	if pm.Problem != "" {
		meta.Problem = ticket.Problem{ID: pm.Problem, Size: pm.Size, FirstSeen: pm.FirstSeen, Summary: pm.Summary}
		meta.Related = pm.Related
	}
	return pm, rec
}
