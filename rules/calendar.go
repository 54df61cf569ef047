package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // calendar zones must load on hosts without zoneinfo
)

// span is a stretch of a day in minutes since midnight, end exclusive.
type span struct{ from, to int }

// calendar says which hours count as business hours, in which zone. Each
// day's spans are sorted, earliest first.
type calendar struct {
	loc      *time.Location
	week     [7][]span       // indexed by time.Weekday
	holidays map[string]bool // YYYY-MM-DD in loc: no business hours
}

var weekdayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

func defaultCalendar() calendar {
	c := calendar{loc: time.UTC}
	for d := time.Monday; d <= time.Friday; d++ {
		c.week[d] = []span{{8 * 60, 18 * 60}}
	}
	return c
}

// parseBusinessHours reads "Mon-Fri 08:00-18:00" or several such spans
// separated by commas ("Mon-Thu 08:00-18:00, Fri 08:00-14:00"). A day range
// may wrap (Fri-Mon); 24:00 ends a day.
func parseBusinessHours(s string) ([7][]span, error) {
	var week [7][]span
	if strings.TrimSpace(s) == "" {
		return week, fmt.Errorf(`empty; expected e.g. "Mon-Fri 08:00-18:00"`)
	}
	for _, item := range strings.Split(s, ",") {
		fields := strings.Fields(item)
		if len(fields) != 2 {
			return week, fmt.Errorf(`%q: expected "Day[-Day] HH:MM-HH:MM"`, strings.TrimSpace(item))
		}
		days, err := parseDayRange(fields[0])
		if err != nil {
			return week, err
		}
		from, to, ok := strings.Cut(fields[1], "-")
		if !ok {
			return week, fmt.Errorf("%q: expected HH:MM-HH:MM", fields[1])
		}
		a, err := parseClock(from)
		if err != nil {
			return week, err
		}
		b, err := parseClock(to)
		if err != nil {
			return week, err
		}
		if b <= a {
			return week, fmt.Errorf("%q: the end must be after the start", fields[1])
		}
		for _, d := range days {
			week[d] = append(week[d], span{a, b})
		}
	}
	for d := range week {
		// Earliest first: the business clock walks a day's spans in order.
		slices.SortFunc(week[d], func(x, y span) int { return x.from - y.from })
	}
	return week, nil
}

func parseDay(s string) (time.Weekday, error) {
	for i, n := range weekdayNames {
		if strings.EqualFold(n, s) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("unknown day %q (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s)
}

func parseDayRange(s string) ([]time.Weekday, error) {
	from, to, isRange := strings.Cut(s, "-")
	a, err := parseDay(from)
	if err != nil {
		return nil, err
	}
	if !isRange {
		return []time.Weekday{a}, nil
	}
	b, err := parseDay(to)
	if err != nil {
		return nil, err
	}
	days := []time.Weekday{a}
	for d := a; d != b; {
		d = (d + 1) % 7
		days = append(days, d)
	}
	return days, nil
}

// parseClock reads HH:MM (00:00 … 24:00) as minutes since midnight.
func parseClock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q: expected HH:MM", s)
	}
	for i, c := range []byte(s) {
		if i == 2 {
			continue
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: expected HH:MM", s)
		}
	}
	h = int(s[0]-'0')*10 + int(s[1]-'0')
	m = int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q: not a time of day", s)
	}
	return h*60 + m, nil
}

// ApplyCalendar fills Hour, Weekday and BusinessHrs from env.Date in the
// calendar's zone (UTC and Mon-Fri 08:00-18:00 unless the rules say
// otherwise). A zero Date leaves the fields alone.
func (s *Set) ApplyCalendar(env *Env) {
	if env.Date.IsZero() {
		return
	}
	cal := s.calendar
	if cal.loc == nil {
		cal = defaultCalendar()
	}
	t := env.Date.In(cal.loc)
	env.Hour = t.Hour()
	env.Weekday = weekdayNames[t.Weekday()]
	minute := t.Hour()*60 + t.Minute()
	env.BusinessHrs = slices.ContainsFunc(cal.week[t.Weekday()], func(sp span) bool { return minute >= sp.from && minute < sp.to })
}

// maxBusinessDays bounds the walk of addBusiness: a calendar with business
// hours on no day (or holidays every day) has no due time.
const maxBusinessDays = 20 * 366

// addBusiness returns t plus d of business time: the business spans of
// the calendar's days, in its zone, after t, skipping weekends and
// holidays. A due time is never outside business hours (it may be the end
// of a span), and adding is additive: addBusiness(addBusiness(t, a), b) ==
// addBusiness(t, a+b). ok is false when no business time lies ahead.
func (c calendar) addBusiness(t time.Time, d time.Duration) (time.Time, bool) {
	t = t.In(c.loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.loc)
	for range maxBusinessDays {
		if !c.holidays[day.Format(time.DateOnly)] {
			for _, sp := range c.week[day.Weekday()] {
				// time.Date normalises a wall clock a DST change skips.
				from := time.Date(day.Year(), day.Month(), day.Day(), sp.from/60, sp.from%60, 0, 0, c.loc)
				to := time.Date(day.Year(), day.Month(), day.Day(), sp.to/60, sp.to%60, 0, 0, c.loc)
				if !t.Before(to) {
					continue
				}
				start := t
				if start.Before(from) {
					start = from
				}
				if avail := to.Sub(start); d <= avail {
					return start.Add(d), true
				} else {
					d -= avail
				}
				t = to
			}
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, c.loc)
	}
	return time.Time{}, false
}

// addBusinessDays adds d on the business clock, its whole days as business
// days: "3d" is three business days later at the same wall-clock time (or
// the next business moment after it), the rest business hours and minutes.
func (c calendar) addBusinessDays(t time.Time, d time.Duration) (time.Time, bool) {
	days, rest := int(d/(24*time.Hour)), d%(24*time.Hour)
	t, ok := c.addBusiness(t, 0) // from the next business moment
	for ; ok && days > 0; days-- {
		t, ok = c.nextBusinessDay(t)
	}
	if !ok {
		return time.Time{}, false
	}
	return c.addBusiness(t, rest)
}

// nextBusinessDay is the same wall-clock time on the next day that has
// business hours and is no holiday, or the next business moment after it.
func (c calendar) nextBusinessDay(t time.Time) (time.Time, bool) {
	t = t.In(c.loc)
	for i := 1; i <= maxBusinessDays; i++ {
		day := time.Date(t.Year(), t.Month(), t.Day()+i, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), c.loc)
		if len(c.week[day.Weekday()]) > 0 && !c.holidays[day.Format(time.DateOnly)] {
			return c.addBusiness(day, 0)
		}
	}
	return time.Time{}, false
}

// Due returns the response, resolution and first status-update due times
// of a ticket of tier received at received: on the calendar's business
// clock where the tier's target asks for it (whole days as business days),
// else around the clock. A missing target gives a zero time.
func (s *Set) Due(tier string, received time.Time) (response, resolve, update time.Time) {
	target, ok := s.SLA[tier]
	if !ok {
		return
	}
	cal := s.calendar
	if cal.loc == nil {
		cal = defaultCalendar()
	}
	add := func(d time.Duration) time.Time {
		if d <= 0 {
			return time.Time{}
		}
		if !target.Business {
			return received.Add(d)
		}
		t, _ := cal.addBusinessDays(received, d)
		return t.UTC()
	}
	return add(target.Response), add(target.Resolve), add(target.UpdateEvery)
}
