package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHolidaysFromICalendar(t *testing.T) {
	data, err := os.ReadFile("testdata/holidays/de.ics")
	if err != nil {
		t.Fatal(err)
	}
	days := map[string]bool{}
	if err := parseHolidays(data, days); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"2026-12-24", "2026-12-31", "2027-01-01", "2026-05-01", "2027-05-01", "2099-05-01"} {
		if !days[d] {
			t.Errorf("%s is not a holiday", d)
		}
	}
	for _, d := range []string{"2026-12-25", "2027-01-02", "2025-05-01", "2100-05-01"} {
		if days[d] {
			t.Errorf("%s is a holiday", d)
		}
	}
	if want := 1 + 2 + (2099 - 2026 + 1); len(days) != want {
		t.Errorf("%d days, want %d", len(days), want)
	}
}

// TestHolidayFileInRules: a rules file names the .ics beside dates; the
// business clock skips its days.
func TestHolidayFileInRules(t *testing.T) {
	dir := t.TempDir()
	ics, err := os.ReadFile("testdata/holidays/de.ics")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("de.ics", string(ics))
	rulesYAML := `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk}
sla: {L1: {response: 15m, resolve: 1h, clock: business}}
calendar: {timezone: Europe/Berlin, business_hours: "Mon-Fri 08:00-18:00", holidays: [2026-12-25, de.ics]}
rules: []
`
	set, err := Load(write("rules.yaml", rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Wednesday 23 December 17:30: 30 minutes that day, then the 24th (the
	// file), the 25th (a date), the weekend: Monday 28th 08:30.
	_, resolve, _ := set.Due("L1", time.Date(2026, 12, 23, 17, 30, 0, 0, berlin))
	if want := time.Date(2026, 12, 28, 8, 30, 0, 0, berlin); !resolve.Equal(want) {
		t.Errorf("resolve due %v, want %v", resolve.In(berlin), want)
	}

	tests := []struct{ name, holidays, extra, want string }{
		{"missing file", "[nope.ics]", "", "cannot read"},
		{"outside the rules tree", "[../x.ics]", "", "cannot read"},
		{"not iCalendar", "[bad.ics]", "bad.ics", "not an iCalendar file"},
		{"daily for ever", "[daily.ics]", "daily.ics", "more than 5000 holiday"},
		{"too large", "[big.ics]", "big.ics", "larger than 1024 KiB"},
		{"neither date nor file", "[Christmas]", "", "not a date (YYYY-MM-DD) nor an iCalendar file"},
	}
	for _, tt := range tests {
		switch tt.extra {
		case "bad.ics":
			write("bad.ics", "hello")
		case "daily.ics":
			write("daily.ics", strings.Replace(string(ics), "RRULE:FREQ=YEARLY", "RRULE:FREQ=DAILY", 1))
		case "big.ics":
			write("big.ics", string(ics)+strings.Repeat("X", MaxHolidayFileBytes))
		}
		_, err := Load(write("r.yaml", strings.Replace(rulesYAML, "[2026-12-25, de.ics]", tt.holidays, 1)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// FuzzParseHolidays: whatever a holidays file holds, parsing returns (no
// panic) and adds at most MaxHolidayDays days.
func FuzzParseHolidays(f *testing.F) {
	ics, err := os.ReadFile("testdata/holidays/de.ics")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ics)
	f.Add([]byte(strings.Replace(string(ics), "FREQ=YEARLY", "FREQ=SECONDLY", 1)))
	f.Add([]byte(strings.Replace(string(ics), "DTEND;VALUE=DATE:20261225", "DTEND;VALUE=DATE:99991231", 1)))
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:bogus\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		days := map[string]bool{}
		_ = parseHolidays(data, days)
		if len(days) > MaxHolidayDays {
			t.Fatalf("%d days, bound %d", len(days), MaxHolidayDays)
		}
	})
}
