package rules

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // calendar zones must load on hosts without zoneinfo
)

// span is a stretch of a day in minutes since midnight, end exclusive.
type span struct{ from, to int }

// calendar says which hours count as business hours, in which zone.
type calendar struct {
	loc  *time.Location
	week [7][]span // indexed by time.Weekday
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
	env.BusinessHrs = false
	for _, sp := range cal.week[t.Weekday()] {
		if minute >= sp.from && minute < sp.to {
			env.BusinessHrs = true
			break
		}
	}
}
