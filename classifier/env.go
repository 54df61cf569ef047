package classifier

import (
	"strings"

	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// Env returns a new rule environment holding the mail's fields. The
// decision fields, the calendar fields and account, mailbox and duplicate
// are left for the caller (Classify fills them).
func (m *Mail) Env() *rules.Env {
	env := &rules.Env{}
	m.FillEnv(env)
	return env
}

// FillEnv sets every mail field of env. Slices and the header map are
// shared with m, which must not change afterwards.
func (m *Mail) FillEnv(env *rules.Env) {
	env.Subject = m.Subject
	env.Body = m.Body
	env.Text = m.text()
	env.From = m.From
	env.ReplyTo = m.ReplyTo
	env.To = nonNil(m.To)
	env.Cc = nonNil(m.Cc)
	env.Recipients = nonNil(m.Recipients)
	env.Headers = m.Headers
	if env.Headers == nil {
		env.Headers = map[string]string{}
	}
	env.Attachments = nonNil(m.Attachments)
	env.Size = m.Size
	env.Date = m.Date
	env.MessageID = m.MessageID
	env.InReplyTo = m.InReplyTo
	env.References = nonNil(m.References)
	env.AutoReply = m.AutoReply
	env.Bounce = m.Bounce
	env.List = m.List
	env.TicketRef = m.TicketRef
	env.Signed = m.Signed
	env.Signer = m.Signer
	env.Encrypted = m.Encrypted
	env.BounceInfo = ticket.BounceInfo{Recipients: []ticket.BounceRecipient{}}
	if m.BounceInfo != nil {
		env.BounceInfo = *m.BounceInfo
	}
	env.Invite = ticket.Invite{}
	if m.Invite != nil {
		env.Invite = *m.Invite
	}
	env.Forwarded = nonNil(m.Forwarded)
}

// text is subject, body and attachment names, one per line, for rules
// that look "anywhere in the mail".
func (m *Mail) text() string {
	lines := []string{m.Subject, m.Body}
	for _, a := range m.Attachments {
		if a.Name != "" {
			lines = append(lines, a.Name)
		}
	}
	return strings.Join(lines, "\n")
}

// nonNil makes an absent list an empty one, so the ticket document and
// rules see [] rather than null.
func nonNil[T any](a []T) []T {
	if a == nil {
		return []T{}
	}
	return a
}
