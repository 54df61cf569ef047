// Package crash holds the whole-daemon crash suites: a real `triage run`
// process is SIGKILLed at random moments while it drains a backlog from a
// private Dovecot into a JSON Lines file and a JetStream stream, and
// SIGTERMed mid-backlog against a slow webhook. The suites check the
// daemon's delivery guarantee end to end: a message is marked done on the
// server only after its sink acknowledged its ticket, so no message is
// lost, and a message delivered again carries the same ticket id.
//
// The code is all in the _test.go files; see crash_test.go for how to run.
package crash
