package daemon

import (
	"fmt"
	"slices"
	"strings"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/mailbox"
)

// RequeueTarget finds the account, the folder to take from and the watched
// mailbox to move to.
func RequeueTarget(cfg *config.Config, account, mb, from string) (mailbox.Config, string, string, error) {
	a, err := findAccount(cfg, account)
	if err != nil {
		return mailbox.Config{}, "", "", err
	}
	folder := a.Quarantine
	if from == "failed" {
		folder = a.Failed
	}
	to := a.Mailboxes[0]
	if mb != "" {
		if !slices.Contains(a.Mailboxes, mb) {
			return mailbox.Config{}, "", "", fmt.Errorf("account %s does not watch %q (it watches %s)", account, mb, strings.Join(a.Mailboxes, ", "))
		}
		to = mb
	}
	return MailboxConfig(cfg, a), folder, to, nil
}

// findAccount is the account called name in cfg.
func findAccount(cfg *config.Config, name string) (config.AccountConfig, error) {
	i := slices.IndexFunc(cfg.Accounts, func(a config.AccountConfig) bool { return a.Name == name })
	if i < 0 {
		return config.AccountConfig{}, fmt.Errorf("no account %q in %s", name, cfg.Path)
	}
	return cfg.Accounts[i], nil
}
