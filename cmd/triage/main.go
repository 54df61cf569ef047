// Command triage classifies help-desk mail with YAML rules; see
// `triage help`. It only ties the process's signals to internal/cli, which
// parses the command line; it holds no logic of its own.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/triage-dev/triage/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
