// Package rt holds the acceptance suite of the rt sink and `triage audit`
// against a real Request Tracker 5: Debian's request-tracker5 with SQLite,
// served by rt-server on a loopback port from a temp dir, provisioned with
// RT's Perl API (queues, custom fields, a bot user with a REST 2 token),
// fed by the real `triage run` binary from a private Dovecot.
//
// Run (needs request-tracker5 rt5-db-sqlite rt5-standalone dovecot-imapd
// dovecot-lmtpd, `make deps`):
//
//	go test -race -timeout 15m ./suites/rt/
//
// TRIAGE_FULL=1 runs the outage case with RT down for 60 s instead of 20 s.
// Under CI=true a missing RT or Dovecot fails the tests.
package rt
