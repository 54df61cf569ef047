package queue

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/triage-dev/triage/ticket"
)

// The ticket document is encoded by hand: encoding/json's reflection was
// about half the CPU of a file-sink delivery. appendTicketJSON produces
// exactly the bytes json.Marshal(t) does (ticketjson_test.go checks this
// against encoding/json, and fails when ticket.Ticket gains a field).

// encodeTicket appends t's JSON document to dst. On an error (a time
// outside what RFC 3339 can show) it returns encoding/json's own error.
func encodeTicket(dst []byte, t *ticket.Ticket) ([]byte, error) {
	out, err := appendTicketJSON(dst, t)
	if err != nil {
		if _, jerr := json.Marshal(t); jerr != nil {
			err = jerr
		}
		return dst, err
	}
	return out, nil
}

// ticketJSON is t's JSON document in a buffer of its own.
func ticketJSON(t *ticket.Ticket) ([]byte, error) {
	return encodeTicket(make([]byte, 0, estimateTicketJSON(t)), t)
}

// estimateTicketJSON is about the encoded size of t, so encoding rarely
// has to grow its buffer: the long strings plus room for the rest.
func estimateTicketJSON(t *ticket.Ticket) int {
	return 1024 + len(t.Subject) + len(t.Body)*11/10
}

func appendTicketJSON(b []byte, t *ticket.Ticket) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendJSONString(b, t.ID)
	b = append(b, `,"message_id":`...)
	b = appendJSONString(b, t.MessageID)
	b = append(b, `,"received_at":`...)
	if b, err = appendJSONTime(b, t.ReceivedAt); err != nil {
		return b, err
	}
	b = append(b, `,"source":`...)
	b = appendSource(b, &t.Source)
	b = append(b, `,"from":`...)
	b = appendAddress(b, &t.From)
	b = append(b, `,"to":`...)
	b = appendAddresses(b, t.To)
	b = append(b, `,"cc":`...)
	b = appendAddresses(b, t.Cc)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, t.Subject)
	b = append(b, `,"body":`...)
	b = appendJSONString(b, t.Body)
	b = append(b, `,"attachments":`...)
	if t.Attachments == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range t.Attachments {
			a := &t.Attachments[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, a.Name)
			b = append(b, `,"type":`...)
			b = appendJSONString(b, a.Type)
			b = append(b, `,"size":`...)
			b = strconv.AppendInt(b, int64(a.Size), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"thread":{"in_reply_to":`...)
	b = appendJSONString(b, t.Thread.InReplyTo)
	b = append(b, `,"references":`...)
	b = appendStrings(b, t.Thread.References)
	b = append(b, `,"ticket_ref":`...)
	b = appendJSONString(b, t.Thread.TicketRef)
	b = append(b, `},"auto_reply":`...)
	b = strconv.AppendBool(b, t.AutoReply)
	b = append(b, `,"bounce":`...)
	b = strconv.AppendBool(b, t.Bounce)
	b = append(b, `,"list":`...)
	b = strconv.AppendBool(b, t.List)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, t.Duplicate)
	if len(t.Defects) > 0 {
		b = append(b, `,"defects":`...)
		b = appendStrings(b, t.Defects)
	}
	b = append(b, `,"classification":`...)
	if b, err = appendClassification(b, &t.Class); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func appendSource(b []byte, s *ticket.Source) []byte {
	b = append(b, '{')
	n := len(b)
	if s.Account != "" {
		b = append(b, `"account":`...)
		b = appendJSONString(b, s.Account)
	}
	if s.Mailbox != "" {
		b = appendSep(b, n)
		b = append(b, `"mailbox":`...)
		b = appendJSONString(b, s.Mailbox)
	}
	if s.UID != 0 {
		b = appendSep(b, n)
		b = append(b, `"uid":`...)
		b = strconv.AppendUint(b, uint64(s.UID), 10)
	}
	if s.UIDValidity != 0 {
		b = appendSep(b, n)
		b = append(b, `"uidvalidity":`...)
		b = strconv.AppendUint(b, uint64(s.UIDValidity), 10)
	}
	return append(b, '}')
}

// appendSep adds a comma unless the object that opened at n is still empty.
func appendSep(b []byte, n int) []byte {
	if len(b) > n {
		return append(b, ',')
	}
	return b
}

func appendAddress(b []byte, a *ticket.Address) []byte {
	b = append(b, '{')
	if a.Name != "" {
		b = append(b, `"name":`...)
		b = appendJSONString(b, a.Name)
		b = append(b, ',')
	}
	b = append(b, `"address":`...)
	b = appendJSONString(b, a.Address)
	return append(b, '}')
}

func appendAddresses(b []byte, as []ticket.Address) []byte {
	if as == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAddress(b, &as[i])
	}
	return append(b, ']')
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

func appendClassification(b []byte, c *ticket.Classification) ([]byte, error) {
	var err error
	b = append(b, `{"tier":`...)
	b = appendJSONString(b, c.Tier)
	b = append(b, `,"priority":`...)
	b = appendJSONString(b, c.Priority)
	b = append(b, `,"queue":`...)
	b = appendJSONString(b, c.Queue)
	b = append(b, `,"runbook":`...)
	b = appendJSONString(b, c.Runbook)
	if c.Folder != "" {
		b = append(b, `,"folder":`...)
		b = appendJSONString(b, c.Folder)
	}
	b = append(b, `,"action":`...)
	b = appendJSONString(b, c.Action)
	b = append(b, `,"tags":`...)
	b = appendStrings(b, c.Tags)
	b = append(b, `,"fields":`...)
	b = appendStringMap(b, c.Fields)
	b = append(b, `,"sla":{`...)
	if c.SLA.ResponseDue != nil {
		b = append(b, `"response_due":`...)
		if b, err = appendJSONTime(b, *c.SLA.ResponseDue); err != nil {
			return b, err
		}
	}
	if c.SLA.ResolveDue != nil {
		if c.SLA.ResponseDue != nil {
			b = append(b, ',')
		}
		b = append(b, `"resolve_due":`...)
		if b, err = appendJSONTime(b, *c.SLA.ResolveDue); err != nil {
			return b, err
		}
	}
	b = append(b, `},"matched":`...)
	if c.Matched == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range c.Matched {
			m := &c.Matched[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = appendJSONString(b, m.Rule)
			if m.Description != "" {
				b = append(b, `,"description":`...)
				b = appendJSONString(b, m.Description)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"rules_version":`...)
	b = appendJSONString(b, c.RulesVersion)
	if len(c.Trace) > 0 {
		b = append(b, `,"trace":[`...)
		for i := range c.Trace {
			s := &c.Trace[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = appendJSONString(b, s.Rule)
			if s.Group != "" {
				b = append(b, `,"group":`...)
				b = appendJSONString(b, s.Group)
			}
			b = append(b, `,"matched":`...)
			b = strconv.AppendBool(b, s.Matched)
			if s.Skipped != "" {
				b = append(b, `,"skipped":`...)
				b = appendJSONString(b, s.Skipped)
			}
			if s.Error != "" {
				b = append(b, `,"error":`...)
				b = appendJSONString(b, s.Error)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendStringMap writes m with its keys sorted, as encoding/json does.
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var small [8]string // tickets carry a few extracted fields
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

// appendJSONTime is time.Time.MarshalJSON without its allocation.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return b, err
	}
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes encoding/json writes as they are (with
// its default HTML escaping of <, > and &).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json does: HTML characters, control
// characters, U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// maxPooledBuffer is the largest line buffer a sink keeps for reuse: a
// ticket with a huge body should not pin that much memory.
const maxPooledBuffer = 256 << 10
