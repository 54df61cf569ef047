package classifier

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/ticket"
)

// maxCalendarBytes bounds a calendar part read for the invite; a longer
// one (a 100,000-line invite) is not read at all, with a defect. Real
// invitations, attendee lists and time zones included, are a few KiB.
const maxCalendarBytes = 256 << 10

// calendar reads the first calendar part into Invite. A named part
// (invite.ics) is also an attachment; a nameless one is the invitation's
// alternative to the text and is not.
func (w *walker) calendar(body io.Reader, name, mediaType string, params map[string]string) {
	w.calendars++
	if w.calendars > 1 {
		if name != "" {
			w.attachment(body, name, mediaType)
		} else {
			w.drain(body)
		}
		return
	}
	b := w.read(body, maxCalendarBytes+1, "calendar part")
	size := len(b)
	if len(b) > maxCalendarBytes {
		if w.mail.Content != nil {
			// The file is handed on whole, though not parsed.
			rest, _ := io.ReadAll(w.d.limit(body, int64(w.opts.MaxBytes)))
			b = append(b, rest...)
		} else {
			n, _ := io.Copy(io.Discard, w.d.limit(body, int64(w.opts.MaxBytes)))
			size += int(n)
		}
		size = max(size, len(b))
		w.defects.add("calendar part over 256 KiB; not read")
	} else if inv, err := parseInvite(b, params["method"]); err != nil {
		w.defects.add("unreadable calendar part: " + quoteShort(err.Error()))
	} else {
		w.mail.Invite = inv
	}
	if name != "" {
		w.addFile(ticket.Attachment{Name: name, Type: mediaType, Size: size}, b)
	}
}

// parseInvite reads the first event of an iCalendar object with go-ical.
// method is the Content-Type's, used when the calendar gives none.
func parseInvite(b []byte, method string) (*ticket.Invite, error) {
	cal, err := decodeCalendar(b)
	if err != nil {
		return nil, err
	}
	inv := &ticket.Invite{Method: method}
	if p := cal.Props.Get(ical.PropMethod); p != nil {
		inv.Method = p.Value
	}
	inv.Method = clip.UTF8(strings.ToUpper(cleanLine(bestEffortString(inv.Method))), 64)
	events := cal.Events()
	if len(events) == 0 {
		return inv, nil
	}
	ev := events[0]
	inv.Summary = icalText(ev.Props, ical.PropSummary)
	inv.Location = icalText(ev.Props, ical.PropLocation)
	inv.Start = icalTime(cal, ev.Props.Get(ical.PropDateTimeStart))
	if p := ev.Props.Get(ical.PropDateTimeEnd); p != nil {
		inv.End = icalTime(cal, p)
	} else if d := ev.Props.Get(ical.PropDuration); d != nil && !inv.Start.IsZero() {
		if dur, err := d.Duration(); err == nil {
			inv.End = inv.Start.Add(dur)
		}
	}
	if p := ev.Props.Get(ical.PropOrganizer); p != nil {
		addr := strings.TrimSpace(p.Value)
		if len(addr) >= 7 && strings.EqualFold(addr[:7], "mailto:") {
			addr = addr[7:]
		}
		var ignored defectList // the calendar's flaws are not the mail's header's
		inv.Organizer = newAddress(bestEffortString(p.Params.Get(ical.ParamCommonName)), bestEffortString(addr), &ignored)
	}
	return inv, nil
}

var errCalendarPanic = errors.New("calendar parser failed")

// decodeCalendar is go-ical's Decode, with a panic turned into an error:
// its parameter reader indexes past the end of a line that ends in "=" (a
// parameter without a value), FuzzInvite's corpus entry 74932b6e5b2a9c79.
func decodeCalendar(b []byte) (cal *ical.Calendar, err error) {
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("%v: %w", r, errCalendarPanic)
		}
	}()
	cal, err = ical.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		return nil, fmt.Errorf("iCalendar: %w", err)
	}
	return cal, nil
}

// icalText is a text property, unescaped, as one clean line.
func icalText(props ical.Props, name string) string {
	p := props.Get(name)
	if p == nil {
		return ""
	}
	s, err := p.Text()
	if err != nil {
		s = p.Value
	}
	return clip.UTF8(cleanLine(bestEffortString(s)), maxHeaderValueBytes)
}

// icalTime reads a DTSTART or DTEND. A TZID takes the offset the
// calendar's own VTIMEZONE of that name gives for that date (RFC 5545
// makes it the definition; Outlook writes Windows names such as "W. Europe
// Standard Time" that no zone database knows); only without one is the
// TZID looked up as an IANA zone (by go-ical, which reads the zone
// database at every call). An unreadable time is zero.
func icalTime(cal *ical.Calendar, p *ical.Prop) time.Time {
	if p == nil {
		return time.Time{}
	}
	if tzid := p.Params.Get(ical.PropTimezoneID); tzid != "" {
		if local, err := time.ParseInLocation("20060102T150405", p.Value, time.UTC); err == nil {
			if loc := vtimezone(cal, tzid, local); loc != nil {
				return time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), 0, loc)
			}
		}
	}
	t, err := p.DateTime(time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}

// vtimezone is the fixed zone the calendar's VTIMEZONE named tzid gives at
// local time t: the STANDARD or DAYLIGHT observance that began last.
func vtimezone(cal *ical.Calendar, tzid string, t time.Time) *time.Location {
	for _, tz := range cal.Children {
		if tz.Name != ical.CompTimezone || tz.Props.Get(ical.PropTimezoneID) == nil || tz.Props.Get(ical.PropTimezoneID).Value != tzid {
			continue
		}
		var best *time.Location
		var bestStart time.Time
		for _, obs := range tz.Children {
			offset, ok := utcOffset(obs.Props.Get(ical.PropTimezoneOffsetTo))
			if !ok {
				continue
			}
			start := observanceStart(obs, t)
			if start.IsZero() || start.After(t) {
				continue
			}
			if best == nil || start.After(bestStart) {
				best, bestStart = time.FixedZone(tzid, offset), start
			}
		}
		return best
	}
	return nil
}

// observanceStart is the last onset of a time zone observance at or
// before t, from its DTSTART and RRULE (rrule-go). The rule is evaluated
// from the year before t: rrule-go steps through onsets one by one and
// gives up long before 2026 when started at Outlook's 1601. rrule-go
// panics on some rules (an index out of range for BYDAY=20SA;BYMONTH=10,
// FuzzInvite's corpus entry f134bb5628af4f89): such an observance has no
// onset.
func observanceStart(obs *ical.Component, t time.Time) (onset time.Time) {
	defer func() {
		if recover() != nil {
			onset = time.Time{}
		}
	}()
	start, err := obs.Props.DateTime(ical.PropDateTimeStart, time.UTC)
	if err != nil {
		return time.Time{}
	}
	opt, err := obs.Props.RecurrenceRule()
	if err != nil || !yearlyOnset(opt) {
		return time.Time{}
	}
	if opt == nil || start.After(t) {
		return start
	}
	if start.Year() < t.Year()-1 {
		start = time.Date(t.Year()-1, start.Month(), start.Day(), start.Hour(), start.Minute(), start.Second(), 0, time.UTC)
	}
	opt.Dtstart = start
	rule, err := rrule.NewRRule(*opt)
	if err != nil {
		return time.Time{}
	}
	return rule.Before(t, true)
}

// yearlyOnset: no rule, or the kind a time zone uses (once a year, one
// month, one weekday). Any other rule, which could step through millions
// of onsets a year (BYSECOND lists), is not evaluated.
func yearlyOnset(r *rrule.ROption) bool {
	if r == nil {
		return true
	}
	return r.Freq == rrule.YEARLY && r.Interval <= 1 &&
		len(r.Bymonth) <= 1 && len(r.Byweekday) <= 1 && len(r.Bysetpos) <= 1 &&
		len(r.Bymonthday)+len(r.Byyearday)+len(r.Byweekno)+len(r.Byhour)+len(r.Byminute)+len(r.Bysecond)+len(r.Byeaster) == 0
}

// utcOffset reads a TZOFFSETTO value ("+0100", "-0530") in seconds.
func utcOffset(p *ical.Prop) (int, bool) {
	if p == nil {
		return 0, false
	}
	v := strings.TrimSpace(p.Value)
	if len(v) != 5 && len(v) != 7 || (v[0] != '+' && v[0] != '-') {
		return 0, false
	}
	t, err := time.Parse("150405", (v[1:] + "00")[:6])
	if err != nil {
		return 0, false
	}
	s := t.Hour()*3600 + t.Minute()*60 + t.Second()
	if v[0] == '-' {
		s = -s
	}
	return s, true
}
