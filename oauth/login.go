package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// LoginTimeout bounds how long Login waits for the person to sign in.
const LoginTimeout = 15 * time.Minute

// Login obtains a delegated account's first refresh token with a person
// signing in, and stores it in the state directory (0600), where the
// daemon's Source finds it.
//
// Microsoft and generic providers with a device authorization endpoint use
// the device code flow (RFC 8628): Login prints the verification URL and
// the code, then polls. Google does not allow the Gmail scope in its
// device flow, so for Google (and a generic provider with only an
// authorization URL) Login prints an authorization URL (PKCE, loopback
// redirect to 127.0.0.1) and waits for the browser to come back to it;
// on a remote server forward the port with ssh -L.
func Login(ctx context.Context, cfg Config, out io.Writer) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if cfg.Flow != FlowDelegated {
		return fmt.Errorf("account %s: flow %s needs no login (only delegated accounts do)", cfg.Account, cfg.Flow)
	}
	oc, err := cfg.oauth2Config()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, cfg.HTTPClient), LoginTimeout)
	defer cancel()
	var tok *oauth2.Token
	if oc.Endpoint.DeviceAuthURL != "" && cfg.Provider != ProviderGoogle {
		tok, err = deviceLogin(ctx, oc, out)
	} else {
		tok, err = browserLogin(ctx, oc, out)
	}
	if err != nil {
		return fmt.Errorf("login for %s: %s", cfg.Account, describe(err))
	}
	if tok.RefreshToken == "" {
		return fmt.Errorf("login for %s: the provider issued no refresh token (Microsoft needs the offline_access scope)", cfg.Account)
	}
	if err := saveRefreshToken(cfg.StateDir, cfg.Account, cfg.ClientID, tok.RefreshToken); err != nil {
		return err
	}
	fmt.Fprintf(out, "Signed in; refresh token stored in %s (mode 0600).\n", TokenFile(cfg.StateDir, cfg.Account))
	return nil
}

func deviceLogin(ctx context.Context, oc *oauth2.Config, out io.Writer) (*oauth2.Token, error) {
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		return nil, err
	}
	// What the provider sends is shown to a person: no escape sequences.
	fmt.Fprintf(out, "To sign in, open %s and enter the code %s\n", printableASCII(da.VerificationURI), printableASCII(da.UserCode))
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(out, "(or open %s)\n", printableASCII(da.VerificationURIComplete))
	}
	fmt.Fprintln(out, "Waiting for the sign-in…")
	return oc.DeviceAccessToken(ctx, da)
}

// browserLogin is the authorization code flow with PKCE and a loopback
// redirect, the flow Google prescribes for command-line tools.
func browserLogin(ctx context.Context, oc *oauth2.Config, out io.Writer) (*oauth2.Token, error) {
	if oc.Endpoint.AuthURL == "" {
		return nil, errors.New("the provider has neither a device authorization URL nor an authorization URL")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loopback listener: %w", err)
	}
	defer ln.Close()
	oc.RedirectURL = "http://" + ln.Addr().String() + "/"
	verifier := oauth2.GenerateVerifier()
	state := rand.Text()

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		res := result{code: q.Get("code")}
		if e := q.Get("error"); e != "" || res.code == "" {
			res.err = fmt.Errorf("sign-in refused: %s", printableASCII(e))
		}
		select {
		case got <- res:
			fmt.Fprintln(w, "triage: sign-in received; you can close this window.")
		default:
			http.Error(w, "already done", http.StatusConflict)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		// Shutdown, not Close: the handler that passed the code on may still
		// be writing the browser's answer (Close cut it off: the browser
		// saw the connection drop instead of "sign-in received").
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()

	u := oc.AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.ApprovalForce, oauth2.S256ChallengeOption(verifier))
	fmt.Fprintf(out, "To sign in, open this URL in a browser on this machine (or forward port %d with ssh -L):\n%s\n", ln.Addr().(*net.TCPAddr).Port, u)
	fmt.Fprintln(out, "Waiting for the sign-in…")
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-got:
		if r.err != nil {
			return nil, r.err
		}
		return oc.Exchange(ctx, r.code, oauth2.VerifierOption(verifier))
	}
}
