package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/triage-dev/triage/config"
)

var leaseKeyChars = regexp.MustCompile(`[^A-Za-z0-9_=-]`)

// leaser acquires and renews the leases of this daemon's accounts.
type leaser struct {
	nc     *nats.Conn
	kv     jetstream.KeyValue
	ttl    time.Duration
	holder string
	log    *slog.Logger
}

func newLeaser(ctx context.Context, cfg *config.Config, log *slog.Logger) (*leaser, error) {
	lc := cfg.Lease.WithDefaults()
	opts := []nats.Option{nats.Name("triage " + lc.Holder), nats.MaxReconnects(-1)}
	if lc.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.Resolve(lc.CredsFile)))
	}
	nc, err := nats.Connect(lc.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("lease: connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("lease: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: lc.Bucket, Description: "triage account leases", TTL: lc.TTL.D(), History: 1,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("lease: bucket %s: %w", lc.Bucket, err)
	}
	return &leaser{nc: nc, kv: kv, ttl: lc.TTL.D(), holder: lc.Holder, log: log}, nil
}

func (l *leaser) close() { l.nc.Close() }

func (l *leaser) key(account string) string {
	return "account." + leaseKeyChars.ReplaceAllString(account, "_")
}

// hold runs serve while this daemon holds the account's lease, until ctx
// ends. A lease that cannot be renewed before it could expire stops serve
// (another daemon may take over); on shutdown the lease is released so a
// standby takes over at once.
func (l *leaser) hold(ctx context.Context, account string, held func(bool), serve func(context.Context)) {
	key := l.key(account)
	renewEvery := l.ttl / 3
	log := l.log.With("account", account, "lease", key, "holder", l.holder)
	for ctx.Err() == nil {
		rev, err := l.kv.Create(ctx, key, []byte(l.holder))
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
				log.Warn("lease: cannot acquire", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(renewEvery):
			}
			continue
		}
		log.Info("lease acquired; serving the account")
		held(true)
		serveCtx, stop := context.WithCancel(ctx)
		served := make(chan struct{})
		go func() {
			defer close(served)
			serve(serveCtx)
		}()
		lost, lastRev := l.renew(ctx, key, rev, renewEvery, served, log)
		stop()
		<-served
		held(false)
		if !lost {
			// Shutting down (or serve returned): hand over at once.
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := l.kv.Delete(rctx, key, jetstream.LastRevision(lastRev)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				log.Warn("lease: release failed; it expires by itself", "err", err, "ttl", l.ttl)
			}
			cancel()
			continue
		}
		log.Warn("lease lost; the account stopped here and may be served by another daemon")
	}
}

// renew keeps the lease until ctx ends (false), serve returns (false) or
// the lease is lost (true); it returns the last revision written, for the
// release.
func (l *leaser) renew(ctx context.Context, key string, rev uint64, every time.Duration, served <-chan struct{}, log *slog.Logger) (bool, uint64) {
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return false, rev
		case <-served:
			return false, rev
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		next, err := l.kv.Update(rctx, key, []byte(l.holder), rev)
		cancel()
		switch {
		case err == nil:
			rev, lastOK = next, time.Now()
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			log.Warn("lease: taken by another daemon", "err", err)
			return true, rev
		case time.Since(lastOK) > l.ttl-every:
			// Could not renew in time: the key may expire before the next
			// try, and a standby may already be serving.
			log.Warn("lease: renewal failing past the deadline", "err", err)
			return true, rev
		default:
			log.Warn("lease: renewal failed; retrying", "err", err)
		}
	}
}
