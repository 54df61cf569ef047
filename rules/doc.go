// Package rules owns the rule language: rules files and directories loaded
// strictly (file:line:col errors, no YAML anchors, one document per file),
// expressions compiled against the typed environment Env, named lists,
// ordered evaluation with groups and stop, the decision and its trace, rule
// tests, lint warnings, and the hot-reload watcher that swaps a rule set in
// only once it compiled, linted and passed its own tests.
//
// It must not know how a mail is parsed (the classifier fills Env), where
// mail comes from (IMAP) or where tickets go (sinks).
package rules
