// Package crash holds the whole-daemon crash suites: a real `triage run`
// process is SIGKILLed at random moments while it drains a backlog from a
// private Dovecot into a JSON Lines file and a JetStream stream, and
// SIGTERMed mid-backlog against a slow webhook. The suites check the
// delivery guarantee end to end: nothing lost, nothing marked done before
// its sink acknowledged it, re-deliveries carry the same id.
//
// The code is all in the _test.go files; see crash_test.go for how to run.
package crash
