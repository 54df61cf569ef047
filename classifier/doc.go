// Package classifier turns one mail into one ticket. It owns everything
// between the raw bytes of an RFC 5322 / MIME message and the Ticket
// document: decoding the header (RFC 2047 words in any charset, address
// lists, dates, message ids), walking the MIME tree to the text body (HTML
// converted, format=flowed undone) and the attachments, detecting
// automatic replies, bounces, list mail and the ticket a reply refers to,
// filling the rule environment with all of that, running a rule set on it
// and building the ticket from the decision.
//
// It knows nothing of where mail comes from or where tickets go: no IMAP,
// no mailboxes, no sinks or queues, no delivery or retries. Its input is
// a byte slice and some metadata (Meta), its output a Mail or a Ticket.
// Broken mail degrades instead of failing: what had to be repaired or
// skipped is listed in Mail.Defects.
package classifier
