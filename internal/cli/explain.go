package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

func runExplain(ctx context.Context, s Streams, args []string) int {
	const usage = "explain --rules RULES [--json] [--account A] [--mailbox M] MAIL..."
	fs := newFlagSet(s, "explain", usage)
	mf := addMailFlags(fs)
	asJSON := fs.Bool("json", false, "print one Ticket JSON document per message, one per line")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if *mf.rules == "" {
		return usageError(fs, "--rules is required")
	}
	if len(pos) == 0 {
		return usageError(fs, "want at least one MAIL file (- for stdin)")
	}
	set, ok := loadRules(s.Err, "explain", *mf.rules)
	if !ok {
		return exitFail
	}
	descriptions := ruleDescriptions(set)
	c := classifier.New()
	enc := json.NewEncoder(s.Out)
	enc.SetEscapeHTML(false)

	exit := exitOK
	stdinUsed := false
	for i, name := range pos {
		if err := ctx.Err(); err != nil {
			return fail(s, "explain", err)
		}
		var raw []byte
		var err error
		if name == "-" {
			if stdinUsed {
				fmt.Fprintln(s.Err, "triage explain: - (stdin) given more than once")
				exit = exitFail
				continue
			}
			stdinUsed = true
			raw, err = readMessage(s.In)
		} else {
			raw, err = readMessageFile(name)
		}
		var mail *classifier.Mail
		if err == nil {
			mail, err = c.Decode(set, raw)
		}
		if err != nil {
			fmt.Fprintf(s.Err, "triage explain: %s: %v\n", name, err)
			exit = exitFail
			continue
		}
		// A mail file carries no arrival time: its Date stands in, so hour,
		// weekday, business_hours and the due times follow it (as in replay).
		meta := mf.meta()
		meta.ReceivedAt = mail.Date
		ticket, decision := c.ClassifyMailTrace(set, mail, meta)
		if *asJSON {
			if err := enc.Encode(ticket); err != nil {
				fmt.Fprintf(s.Err, "triage explain: write: %v\n", err)
				return exitFail
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(s.Out)
		}
		env := mail.Env()
		set.ApplyCalendar(env)
		writeExplanation(s.Out, name, ticket, decision, env, descriptions)
	}
	return exit
}

// ruleDescriptions maps rule names to their descriptions, for the rules
// the trace lists but that did not match.
func ruleDescriptions(set *rules.Set) map[string]string {
	m := make(map[string]string)
	for _, r := range set.Rules() {
		if r.Description != "" {
			m[r.Name] = r.Description
		}
	}
	return m
}

// writeExplanation prints one classified message for a person: what the
// decoder saw, the decision, and every rule considered in order.
func writeExplanation(w io.Writer, name string, t *ticket.Ticket, d rules.Decision, env *rules.Env, descriptions map[string]string) {
	fmt.Fprintf(w, "== %s\n", printable(name))
	fmt.Fprintf(w, "subject:   %s\n", printable(t.Subject))
	fmt.Fprintf(w, "from:      %s\n", printable(formatAddress(t.From)))
	if t.MessageID != "" {
		fmt.Fprintf(w, "id:        %s  message-id %s\n", t.ID, printable(t.MessageID))
	} else {
		fmt.Fprintf(w, "id:        %s\n", t.ID)
	}
	if env.Date.IsZero() {
		fmt.Fprintln(w, "date:      none usable; the calendar fields come from the receipt time")
	} else {
		hours := "outside business hours"
		if env.BusinessHrs {
			hours = "business hours"
		}
		fmt.Fprintf(w, "date:      %s  (calendar: %s %02d h, %s)\n", env.Date.Format(time.RFC1123Z), env.Weekday, env.Hour, hours)
	}
	if len(t.Attachments) > 0 {
		names := make([]string, len(t.Attachments))
		for i, a := range t.Attachments {
			inline := ""
			if a.Inline {
				inline = ", inline"
			}
			names[i] = fmt.Sprintf("%s (%s, %d bytes%s)", printable(a.Name), printable(a.Type), a.Size, inline)
		}
		fmt.Fprintf(w, "attached:  %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(w, "flags:     auto_reply=%t bounce=%t list=%t duplicate=%t ticket_ref=%s\n",
		t.AutoReply, t.Bounce, t.List, t.Duplicate, printable(cmp.Or(t.Thread.TicketRef, "-")))
	writeFormats(w, t)
	if len(t.Defects) > 0 {
		fmt.Fprintf(w, "repaired:  %s\n", printable(strings.Join(t.Defects, "; ")))
	}

	cl := t.Class
	fmt.Fprintf(w, "decision:  %s %s  queue=%s  runbook=%s  action=%s", cl.Tier, cl.Priority, cl.Queue, cl.Runbook, cl.Action)
	if cl.Folder != "" {
		fmt.Fprintf(w, "  folder=%s", cl.Folder)
	}
	fmt.Fprintln(w)
	if len(cl.Tags) > 0 {
		fmt.Fprintf(w, "tags:      %s\n", strings.Join(cl.Tags, ", "))
	}
	if len(cl.Fields) > 0 {
		fmt.Fprintf(w, "fields:    %s\n", printable(formatFields(cl.Fields)))
	}
	if cl.SLA.ResponseDue != nil || cl.SLA.ResolveDue != nil {
		fmt.Fprintf(w, "sla:       response due %s, resolve due %s (from receipt %s)\n",
			formatDue(cl.SLA.ResponseDue), formatDue(cl.SLA.ResolveDue), formatDue(&t.ReceivedAt))
	}
	if len(cl.Matched) == 0 {
		fmt.Fprintln(w, "matched:   none (defaults apply)")
	}

	fmt.Fprintf(w, "rules (version %s):\n", shortVersion(cl.RulesVersion))
	group := ""
	for _, e := range d.Trace {
		if e.Group != group {
			group = e.Group
			if group != "" {
				fmt.Fprintf(w, "  [group %s]\n", group)
			}
		}
		indent := "  "
		if e.Group != "" {
			indent = "    "
		}
		mark, note := "✗", ""
		switch {
		case e.Error != "":
			mark, note = "!", "error: "+e.Error
		case e.Skipped != "":
			mark, note = "-", "skipped: "+e.Skipped
		case e.Matched:
			mark, note = "✓", descriptions[e.Rule]
		}
		if note != "" {
			fmt.Fprintf(w, "%s%s %-28s %s\n", indent, mark, e.Rule, printable(note))
		} else {
			fmt.Fprintf(w, "%s%s %s\n", indent, mark, e.Rule)
		}
	}
}

func formatAddress(a ticket.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Address)
}

func formatFields(fields map[string]string) string {
	keys := slices.Sorted(maps.Keys(fields))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + fields[k]
	}
	return strings.Join(parts, " ")
}

func formatDue(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("Mon 2006-01-02 15:04 MST")
}

func shortVersion(v string) string { return v[:min(len(v), 12)] }

// writeFormats prints what the decoder read from signatures, encryption,
// delivery reports, invitations and forwarded messages, when present.
func writeFormats(w io.Writer, t *ticket.Ticket) {
	switch {
	case t.Encrypted:
		fmt.Fprintln(w, "security:  encrypted (body unreadable)")
	case t.Signed && t.Signer != "":
		fmt.Fprintf(w, "security:  signed by %s (not verified)\n", printable(t.Signer))
	case t.Signed:
		fmt.Fprintln(w, "security:  signed (not verified)")
	}
	if b := t.BounceInfo; b != nil {
		fmt.Fprintf(w, "bounce:    %s %s %s", printable(b.Recipient), printable(b.Action), printable(b.Status))
		if len(b.Recipients) > 1 {
			fmt.Fprintf(w, " (+%d more recipients)", len(b.Recipients)-1)
		}
		if b.Diagnostic != "" {
			fmt.Fprintf(w, "  %s", printable(b.Diagnostic))
		}
		fmt.Fprintln(w)
	}
	if inv := t.Invite; inv != nil {
		when := "no start"
		if !inv.Start.IsZero() {
			when = inv.Start.Format(time.RFC1123Z)
		}
		fmt.Fprintf(w, "invite:    %s %q %s, organizer %s, location %q\n", printable(inv.Method), printable(inv.Summary),
			when, printable(formatAddress(inv.Organizer)), printable(inv.Location))
	}
	for _, f := range t.Forwarded {
		how := "attached"
		if f.Inline {
			how = "inline"
		}
		fmt.Fprintf(w, "forwarded: %s from %s, subject %q, date %s\n", how, printable(formatAddress(f.From)),
			printable(f.Subject), printable(f.Date))
	}
}
