package rules

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func slaSet(t *testing.T, zone, hours, extra string) *Set {
	t.Helper()
	return mustLoad(t, fmt.Sprintf(`version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk}
calendar: {timezone: %s, business_hours: %q%s}
sla:
  L1: {response: 15m, resolve: 1h, clock: business}
  L2: {response: 1h, resolve: 4h}
  L3: {resolve: 3d, clock: business, update_every: 1d}
`, zone, hours, extra))
}

func at(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSLABusinessClock(t *testing.T) {
	const berlin, newYork = "Europe/Berlin", "America/New_York"
	tests := []struct {
		name, zone, hours, extra, tier, received string
		response, resolve, update                string // "" = none
	}{
		{"inside hours", berlin, "Mon-Fri 08:00-18:00", "", "L1", "2026-12-02 10:00", "2026-12-02 10:15", "2026-12-02 11:00", ""},
		{"Friday 17:55 runs into Monday", berlin, "Mon-Fri 08:00-18:00", "", "L1", "2026-12-04 17:55", "2026-12-07 08:10", "2026-12-07 08:55", ""},
		{"arrives on a Saturday night", berlin, "Mon-Fri 08:00-18:00", "", "L1", "2026-12-05 23:30", "2026-12-07 08:15", "2026-12-07 09:00", ""},
		{"before opening", berlin, "Mon-Fri 08:00-18:00", "", "L1", "2026-12-02 06:00", "2026-12-02 08:15", "2026-12-02 09:00", ""},
		{"holidays skipped", berlin, "Mon-Fri 08:00-18:00", ", holidays: [2026-12-24, 2026-12-25]", "L1", "2026-12-23 17:30", "2026-12-23 17:45", "2026-12-28 08:30", ""},
		{"split day", berlin, "Mon-Thu 08:00-12:00, Mon-Thu 13:00-17:00, Fri 08:00-14:00", "", "L1", "2026-12-02 11:50", "2026-12-02 13:05", "2026-12-02 13:50", ""},
		{"calendar clock ignores hours", berlin, "Mon-Fri 08:00-18:00", "", "L2", "2026-12-04 17:55", "2026-12-04 18:55", "2026-12-04 21:55", ""},
		{"L3 days of business time and its update", berlin, "Mon-Fri 08:00-18:00", "", "L3", "2026-12-04 17:00", "", "2026-12-09 17:00", "2026-12-07 17:00"},
		// DST: Berlin springs forward Sun 2027-03-28 and falls back Sun 2027-10-31;
		// New York on Sun 2027-03-14 and Sun 2027-11-07. Business hours stay
		// the wall clock's.
		{"Berlin spring forward", berlin, "Mon-Fri 08:00-18:00", "", "L1", "2027-03-26 17:30", "2027-03-26 17:45", "2027-03-29 08:30", ""},
		{"Berlin fall back", berlin, "Mon-Fri 08:00-18:00", "", "L1", "2027-10-29 17:30", "2027-10-29 17:45", "2027-11-01 08:30", ""},
		{"New York spring forward", newYork, "Mon-Fri 09:00-17:00", "", "L1", "2027-03-12 16:50", "2027-03-15 09:05", "2027-03-15 09:50", ""},
		{"New York fall back", newYork, "Mon-Fri 09:00-17:00", "", "L1", "2027-11-05 16:50", "2027-11-08 09:05", "2027-11-08 09:50", ""},
		{"a 24h day across a DST night", berlin, "Mon-Sun 00:00-24:00", "", "L3", "2027-03-27 12:00", "", "2027-03-30 12:00", "2027-03-28 12:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := slaSet(t, tt.zone, tt.hours, tt.extra)
			response, resolve, update := s.Due(tt.tier, at(t, tt.zone, tt.received))
			for _, c := range []struct {
				what string
				got  time.Time
				want string
			}{{"response", response, tt.response}, {"resolve", resolve, tt.resolve}, {"update", update, tt.update}} {
				switch {
				case c.want == "" && !c.got.IsZero():
					t.Errorf("%s due %v, want none", c.what, c.got)
				case c.want != "" && !c.got.Equal(at(t, tt.zone, c.want)):
					t.Errorf("%s due %v, want %s %s", c.what, c.got.In(at(t, tt.zone, c.want).Location()), c.want, tt.zone)
				}
			}
		})
	}
}

// TestBusinessClockProperties: on random calendars, start times and
// durations, a due time lies in business hours (a span's end included),
// adding business time is monotonic, and adding a then b is adding a+b.
func TestBusinessClockProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	zones := []string{"Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"}
	hours := []string{"Mon-Fri 08:00-18:00", "Mon-Thu 08:00-12:00, Mon-Thu 13:00-17:00, Fri 08:00-14:00", "Sat-Sun 00:00-24:00", "Mon-Sun 01:30-02:30"}
	for i := range 3000 {
		zone, h := zones[rng.IntN(len(zones))], hours[rng.IntN(len(hours))]
		s := slaSet(t, zone, h, ", holidays: [2027-01-01, 2027-03-29, 2027-11-01]")
		cal := s.calendar
		start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(400 * 24 * time.Hour))))
		// Business hours and minutes; whole days are business days, which
		// TestSLABusinessClock covers.
		a := time.Duration(rng.Int64N(int64(24 * time.Hour)))
		b := time.Duration(rng.Int64N(int64(24 * time.Hour)))
		ta, ok1 := cal.addBusiness(start, a)
		tab, ok2 := cal.addBusiness(ta, b)
		tsum, ok3 := cal.addBusiness(start, a+b)
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("#%d %s %q: no due time", i, zone, h)
		}
		if !tab.Equal(tsum) {
			t.Fatalf("#%d %s %q from %v: +%v+%v = %v, +%v = %v", i, zone, h, start, a, b, tab, a+b, tsum)
		}
		if ta.Before(start) || tsum.Before(ta) {
			t.Fatalf("#%d %s %q from %v: not monotonic: %v, %v", i, zone, h, start, ta, tsum)
		}
		if !inBusiness(cal, tsum) {
			t.Fatalf("#%d %s %q: due %v outside business hours", i, zone, h, tsum.In(cal.loc))
		}
	}
}

// inBusiness: t lies in a business span of its day (its end included).
func inBusiness(c calendar, t time.Time) bool {
	t = t.In(c.loc)
	if c.holidays[t.Format(time.DateOnly)] {
		return false
	}
	for _, sp := range c.week[t.Weekday()] {
		from := time.Date(t.Year(), t.Month(), t.Day(), sp.from/60, sp.from%60, 0, 0, c.loc)
		to := time.Date(t.Year(), t.Month(), t.Day(), sp.to/60, sp.to%60, 0, 0, c.loc)
		if !t.Before(from) && !t.After(to) {
			return true
		}
	}
	// A span ending at 24:00 ends at the next day's midnight.
	prev := t.Add(-time.Nanosecond)
	return !t.Equal(prev) && t.Hour() == 0 && t.Minute() == 0 && inBusiness(c, prev)
}
