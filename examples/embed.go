// Package examples carries the example rule set, daemon config, webhook
// templates and sample mail, embedded so that `triage demo` runs anywhere.
// It holds files only and knows nothing of what reads them.
package examples

import "embed"

// Files holds rules.yaml, triage.yaml, templates/ and mail/*.eml.
//
//go:embed rules.yaml mail/*.eml
var Files embed.FS
