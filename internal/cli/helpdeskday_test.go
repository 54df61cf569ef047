package cli

import (
	"encoding/json"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/ticket"
)

// dayStart is 08:00 UTC on the corpus's Friday.
var dayStart = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

// writeDayMail writes one .eml of the help-desk day.
func writeDayMail(t *testing.T, dir, name, from, subject, body string, at time.Time, extra string) {
	t.Helper()
	msg := "From: " + from + "\r\nTo: helpdesk@example.com\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) +
		"\r\nDate: " + at.Format(time.RFC1123Z) + "\r\nMessage-ID: <" + name + "@corpus.example.com>\r\n" + extra +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"
	if err := os.WriteFile(filepath.Join(dir, name+".eml"), []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReplayHelpDeskDay replays the labelled help-desk day of
// problems/testdata/day.yaml with a monitoring storm (60 alerts from one
// host in ten minutes), an auto-reply loop (20 out-of-office replies) and
// an unmarked loop (20 replies from a vendor's robot that sets no
// auto-reply header) through examples/rules.yaml, as the daemon would
// handle them. It reports and holds: per problem the share of its mails
// in one problem, the one-off mails inside any problem (none), and the
// tickets forwarded from the storm and the loops (at most 4 each).
func TestReplayHelpDeskDay(t *testing.T) {
	dir := t.TempDir()
	label, mails := writeHelpDeskDay(t, dir)
	out := filepath.Join(t.TempDir(), "tickets.jsonl")
	r := runMain(t, "", "replay", "--rules", examplesRules, "--json", "--tickets", out, dir)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rep replayReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Messages != mails+100 || rep.Unparseable != 0 {
		t.Fatalf("%d messages, %d unparseable; want %d and 0", rep.Messages, rep.Unparseable, mails+100)
	}

	checkDayGrouping(t, rep, label)
	checkDayForwarded(t, out)
	if len(rep.Problems) == 0 || rep.Problems[0].Size < 10 || !strings.Contains(rep.Problems[0].Summary, "db02") {
		t.Errorf("largest problem %+v, want the storm (db02) first", rep.Problems[:min(1, len(rep.Problems))])
	}
}

// writeHelpDeskDay writes the labelled day's mails, the storm and the two
// loops into dir; it returns each labelled mail's problem by message id
// and the number of labelled mails.
func writeHelpDeskDay(t *testing.T, dir string) (label map[string]string, mails int) {
	t.Helper()
	raw, err := os.ReadFile("../../problems/testdata/day.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var day struct {
		Mails []struct {
			At                           int
			From, Problem, Subject, Body string
		} `yaml:"mails"`
	}
	if err := yaml.Unmarshal(raw, &day); err != nil {
		t.Fatal(err)
	}
	label = map[string]string{} // message id → problem label ("" for a one-off)
	for i, m := range day.Mails {
		name := fmt.Sprintf("day%03d-%s", i, m.Problem)
		writeDayMail(t, dir, name, m.From, m.Subject, m.Body, dayStart.Add(time.Duration(m.At)*time.Minute), "")
		label["<"+name+"@corpus.example.com>"] = m.Problem
	}
	for i := range 60 {
		at := dayStart.Add(time.Hour + time.Duration(i*10)*time.Second)
		writeDayMail(t, dir, fmt.Sprintf("storm%02d", i), "nagios@monitor.example.com",
			fmt.Sprintf("PROBLEM: db02 /var disk usage %d%%", 90+i%10),
			fmt.Sprintf("Host: db02\nService: disk /var\nState: CRITICAL\nUsage: %d%%\nTime: %s", 90+i%10, at.Format(time.RFC3339)), at, "")
	}
	for i := range 20 {
		at := dayStart.Add(2*time.Hour + time.Duration(i)*time.Minute)
		writeDayMail(t, dir, fmt.Sprintf("ooo%02d", i), "bob.away@partner.example.net", "Automatic reply: [#4711] Your request",
			"I am out of the office until 14 December with limited access to e-mail.", at, "Auto-Submitted: auto-replied\r\n")
		writeDayMail(t, dir, fmt.Sprintf("robot%02d", i), "tickets@vendor.example.org", fmt.Sprintf("Re: [#4712] Case %d received", 9000+i),
			"Thank you, your message was added to case 4712. Our team will answer soon.", at.Add(30*time.Second), "")
	}
	return label, len(day.Mails)
}

// checkDayGrouping checks per problem the share of its mails in its
// largest problem, and that no one-off mail is inside a problem.
func checkDayGrouping(t *testing.T, rep replayReport, label map[string]string) {
	t.Helper()
	total, inProblem := map[string]int{}, map[string]map[string]int{}
	for _, l := range label {
		total[l]++
	}
	oneOffsGrouped := 0
	for _, p := range rep.Problems {
		for _, id := range p.MessageIDs {
			l, ok := label[id]
			switch {
			case !ok: // storm or loop mail
			case l == "":
				oneOffsGrouped++
			default:
				if inProblem[l] == nil {
					inProblem[l] = map[string]int{}
				}
				inProblem[l][p.ID]++
			}
		}
	}
	var labels []string
	for l := range total {
		if l != "" {
			labels = append(labels, l)
		}
	}
	sort.Strings(labels)
	for _, l := range labels {
		best := 0
		for _, n := range inProblem[l] {
			best = max(best, n)
		}
		share := float64(best) / float64(total[l])
		t.Logf("problem %-8s %d of %d mails (%.0f%%) in one problem", l, best, total[l], 100*share)
		if share < 0.85 {
			t.Errorf("problem %s: %.0f%% in one problem, want at least 85%%", l, 100*share)
		}
	}
	t.Logf("one-off mails in a problem: %d of %d", oneOffsGrouped, total[""])
	if oneOffsGrouped != 0 {
		t.Errorf("%d one-off mails inside a problem, want 0", oneOffsGrouped)
	}
}

// checkDayForwarded checks the tickets forwarded per sender of the storm
// and the loops with the README's recipe: at most 4 each.
func checkDayForwarded(t *testing.T, out string) {
	t.Helper()
	forwarded := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, out))), "\n") {
		var tk ticket.Ticket
		if err := json.Unmarshal([]byte(line), &tk); err != nil {
			t.Fatal(err)
		}
		if tk.Class.Action == "forward" {
			forwarded[tk.From.Address]++
		}
	}
	for _, sender := range []string{"nagios@monitor.example.com", "bob.away@partner.example.net", "tickets@vendor.example.org"} {
		t.Logf("tickets forwarded from %s: %d", sender, forwarded[sender])
		if forwarded[sender] > 4 {
			t.Errorf("%s: %d tickets forwarded, want at most 4", sender, forwarded[sender])
		}
	}
}
