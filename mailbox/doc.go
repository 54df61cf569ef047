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
// in between re-delivers it (at-least-once). With a Journal, each FETCH batch
// is recorded as in flight first; messages the Journal suspects of a crash
// are handled alone, and those it condemns are quarantined unfetched.
//
// While it only waits for handlers (a sink retrying for minutes), a session
// waits in IDLE, so new mail is handled as it arrives.
package mailbox
