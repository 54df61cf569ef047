// Package mailbox owns the IMAP side of triage, one Account per IMAP
// account: it connects (TLS or STARTTLS), authenticates (PLAIN, LOGIN,
// XOAUTH2, OAUTHBEARER), waits for new mail with IDLE or polls, fetches the
// messages not yet marked done, hands each to a Handler (claimed until its
// verdict is applied, even across a reconnect, so no two Handlers get the
// same message) and applies the Handler's verdict on the server: a
// keyword and/or a move for Done, a move for Quarantine and Failed, nothing
// for Retry, which is retried after a backoff.
//
// It must not know about rules, classification or sinks: those live behind
// the Handler.
//
// A message is marked done only after its Handler returned Done, so a crash
// in between re-delivers it (at-least-once).
package mailbox
