// Package oauth obtains and refreshes the OAuth 2.0 access tokens that
// IMAP accounts of Microsoft 365 and Google Workspace log in with
// (XOAUTH2, OAUTHBEARER), so that no external refresher is needed.
//
// One Source per account holds the current token and refreshes it in the
// background before it expires, with a backoff after failures; Token hands
// out the held token without waiting whenever it is still good for a
// while. The grants are those of golang.org/x/oauth2:
//
//   - app-only: client credentials with a client secret or with a
//     certificate (a client assertion JWT signed with its key), Microsoft
//     365's unattended setup for daemons;
//   - service account: Google's JWT grant with domain-wide delegation,
//     impersonating the mailbox user;
//   - delegated: a refresh token obtained once by Login (device code, or
//     authorization code with a loopback redirect for Google) and kept in
//     the state directory, mode 0600, replaced whenever the provider
//     rotates it.
//
// It must not know IMAP or triage.yaml: the mailbox package sees only a
// func returning the current token, and the daemon maps the config onto
// Config. No token, secret or key ever reaches a log line or an error.
package oauth
