package rules

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/triage-dev/triage/internal/boundedfile"
)

// Bounds of an iCalendar file of holidays: it comes from outside (a
// download of public holidays) and is read on every rules reload.
const (
	MaxHolidayFileBytes = 1 << 20
	// MaxHolidayDays bounds the days one file adds, recurrences expanded:
	// 30 holidays a year for a century and more.
	MaxHolidayDays = 5000
	// maxHolidaySpan bounds one event's length in days.
	maxHolidaySpan = 366
)

// holidayHorizon ends the expansion of recurring holidays.
var holidayHorizon = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// isHolidayFile tells a holidays item naming an iCalendar file from a date.
func isHolidayFile(s string) bool {
	return strings.HasSuffix(strings.ToLower(s), ".ics")
}

// readHolidayFile reads the days of an iCalendar file at path (resolved
// and checked like a test's mail: a regular file in the rules directory's
// tree) into days.
func readHolidayFile(dir, p string, days map[string]bool) error {
	path, err := testMailPath(dir, p, false)
	if err != nil {
		return err
	}
	data, err := boundedfile.Read(path, MaxHolidayFileBytes)
	if errors.Is(err, boundedfile.ErrTooLarge) {
		return fmt.Errorf("%s is larger than %d KiB", path, MaxHolidayFileBytes>>10)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return parseHolidays(data, days)
}

// parseHolidays adds the days of every event in an iCalendar document to
// days (YYYY-MM-DD): all-day events by their dates, multi-day events day
// by day up to DTEND (exclusive), recurring ones (RRULE, RDATE, EXDATE)
// expanded until 2100. More than MaxHolidayDays new days is an error.
func parseHolidays(data []byte, days map[string]bool) (err error) {
	// go-ical panics on some malformed content lines (an index out of
	// range in its parameter decoder; FuzzParseHolidays keeps the input
	// in testdata/fuzz): a broken file is an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed iCalendar file: %v", r)
		}
	}()
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return fmt.Errorf("not an iCalendar file: %w", err)
	}
	added := 0
	add := func(start, end time.Time) error {
		for d, n := start, 0; n == 0 || (d.Before(end) && n < maxHolidaySpan); d, n = d.AddDate(0, 0, 1), n+1 {
			key := d.Format(time.DateOnly)
			if !days[key] {
				if added++; added > MaxHolidayDays {
					return fmt.Errorf("more than %d holiday days", MaxHolidayDays)
				}
				days[key] = true
			}
		}
		return nil
	}
	for _, ev := range cal.Events() {
		// Floating dates (all-day events) read as UTC keep their date.
		start, err := ev.DateTimeStart(time.UTC)
		if err != nil {
			return fmt.Errorf("event without a usable DTSTART: %w", err)
		}
		end, err := ev.DateTimeEnd(time.UTC)
		if err != nil || !end.After(start) {
			end = start.AddDate(0, 0, 1)
		}
		length := end.Sub(start)
		set, err := ev.RecurrenceSet(time.UTC)
		if err != nil {
			return fmt.Errorf("event starting %s: %w", start.Format(time.DateOnly), err)
		}
		if set == nil {
			if err := add(start, end); err != nil {
				return err
			}
			continue
		}
		// Occurrences are counted, not only new days: FREQ=SECONDLY
		// repeats one day 86,400 times.
		next := set.Iterator()
		n := 0
		for t, ok := next(); ok && t.Before(holidayHorizon); t, ok = next() {
			if n++; n > MaxHolidayDays {
				return fmt.Errorf("more than %d holiday occurrences", MaxHolidayDays)
			}
			if err := add(t, t.Add(length)); err != nil {
				return err
			}
		}
	}
	return nil
}
