// Package console owns the web console the admin HTTP server serves under
// /: the overview of the intake (mail per hour and its tier mix, the L1
// share, mailboxes, sinks, rules version, SLA due within the hour), the
// recent tickets with their decision trace, the active rules with their
// hits and the reload history, quarantined and failed mail, the open
// problems of problem detection with their tickets, and the
// playground that classifies a mail and replays an edited rule set against
// the recent messages before saving it through the reload gate.
//
// It reads the running daemon only through Source, keeps no state of its
// own beyond browser sessions, and serves its pages and assets from files
// embedded in the binary (the charts by uPlot, vendored under
// assets/uplot with its licence). Everything from mail is hostile: pages are
// html/template, scripts set textContent only, and a strict
// Content-Security-Policy forbids inline script. It must not know how the
// daemon runs, how mail is parsed or how rules are written: it asks the
// Source, the classifier and the rules package.
package console
