package daemon

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/triage-dev/triage/mailbox"
)

// Metrics are the daemon's Prometheus metrics, on a registry of their own so
// that tests and several daemons in one process do not collide.
type Metrics struct {
	Registry *prometheus.Registry

	MessagesSeen         *prometheus.CounterVec
	Tickets              *prometheus.CounterVec
	RuleMatches          *prometheus.CounterVec
	Quarantined          *prometheus.CounterVec
	FailedMessages       *prometheus.CounterVec
	Duplicates           *prometheus.CounterVec
	DecodeDuration       prometheus.Histogram
	ClassifyDuration     prometheus.Histogram
	HandleDuration       prometheus.Histogram
	NoticeToDone         prometheus.Histogram
	ForwardDuration      *prometheus.HistogramVec
	ForwardErrors        *prometheus.CounterVec
	ForwardRetrying      *prometheus.GaugeVec
	Forwarded            *prometheus.CounterVec
	IMAPConnected        *prometheus.GaugeVec
	IMAPReconnects       *prometheus.CounterVec
	IMAPIdle             *prometheus.GaugeVec
	Backlog              *prometheus.GaugeVec
	OldestUndone         *prometheus.GaugeVec
	TokenExpiry          *prometheus.GaugeVec
	OAuthRefreshFailures *prometheus.CounterVec
	LeaseHeld            *prometheus.GaugeVec
	ReloadSuccess        prometheus.Gauge
	ReloadTimestamp      prometheus.Gauge
	ReloadsTotal         *prometheus.CounterVec
	RulesVersion         *prometheus.GaugeVec
	BuildInfo            *prometheus.GaugeVec

	mu       sync.Mutex
	oldest   map[[2]string]time.Time
	lastRule string
}

// NewMetrics registers every metric on a fresh registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r, oldest: map[[2]string]time.Time{}}
	f := promauto.With(r)
	durBuckets := []float64{.00001, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05, .1, .5, 1}
	fwdBuckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

	m.MessagesSeen = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_messages_seen_total", Help: "Messages fetched from IMAP, per account and mailbox."}, []string{"account", "mailbox"})
	m.Tickets = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_tickets_total", Help: "Messages classified, by decision. Forwarded or dropped is in action."}, []string{"tier", "priority", "queue", "action"})
	m.RuleMatches = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_rule_matches_total", Help: "Times each rule applied."}, []string{"rule"})
	m.Quarantined = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_quarantined_total", Help: "Messages filed in the quarantine folder (unparseable or too large)."}, []string{"account", "reason"})
	m.FailedMessages = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_failed_total", Help: "Messages filed in the failed folder after a permanent sink rejection."}, []string{"account", "queue"})
	m.Duplicates = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_duplicates_total", Help: "Messages whose id was already handled within the dedupe window; kind=redelivery were forwarded before and are only marked done."}, []string{"kind"})
	m.DecodeDuration = f.NewHistogram(prometheus.HistogramOpts{Name: "triage_decode_duration_seconds", Help: "Time to parse and decode one message.", Buckets: durBuckets})
	m.ClassifyDuration = f.NewHistogram(prometheus.HistogramOpts{Name: "triage_classify_duration_seconds", Help: "Time to evaluate the rules on one message.", Buckets: durBuckets})
	m.HandleDuration = f.NewHistogram(prometheus.HistogramOpts{Name: "triage_handle_duration_seconds", Help: "Time from fetch to the sink's acknowledgement, per message.", Buckets: fwdBuckets})
	m.NoticeToDone = f.NewHistogram(prometheus.HistogramOpts{Name: "triage_notice_to_done_seconds", Help: "Time from the IMAP server's new-mail notice (EXISTS) to the sink's acknowledgement.", Buckets: fwdBuckets})
	m.ForwardDuration = f.NewHistogramVec(prometheus.HistogramOpts{Name: "triage_forward_duration_seconds", Help: "Time a sink took to acknowledge one ticket, retries included.", Buckets: fwdBuckets}, []string{"queue"})
	m.ForwardErrors = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_forward_errors_total", Help: "Sink errors per queue; kind is temporary (retried) or permanent."}, []string{"queue", "kind"})
	m.ForwardRetrying = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_forward_retrying", Help: "Tickets currently waiting to be retried, per queue."}, []string{"queue"})
	m.Forwarded = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_forwarded_total", Help: "Tickets acknowledged by their sink, per queue."}, []string{"queue"})
	m.IMAPConnected = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_imap_connected", Help: "1 while the account's IMAP connections are up."}, []string{"account"})
	m.IMAPReconnects = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_imap_reconnects_total", Help: "IMAP reconnect attempts per account."}, []string{"account"})
	m.IMAPIdle = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_imap_idle", Help: "1 while the mailbox sits in IMAP IDLE."}, []string{"account", "mailbox"})
	m.Backlog = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_mailbox_backlog", Help: "Messages not yet marked done, per mailbox, at the last scan."}, []string{"account", "mailbox"})
	m.OldestUndone = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_mailbox_oldest_undone_timestamp_seconds", Help: "Internal date of the oldest message not yet done (0 when none)."}, []string{"account", "mailbox"})
	m.TokenExpiry = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_oauth_token_expiry_timestamp_seconds", Help: "Expiry of the account's OAuth token, from the token response's expires_in (else a JWT's exp claim); seconds to expiry = this - time()."}, []string{"account"})
	m.OAuthRefreshFailures = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_oauth_refresh_failures_total", Help: "Failed requests for a new OAuth token (oauth2 provider set); each is retried with backoff."}, []string{"account"})
	m.LeaseHeld = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_lease_held", Help: "1 while this daemon holds the account's lease (lease: configured); 0 on a standby."}, []string{"account"})
	m.ReloadSuccess = f.NewGauge(prometheus.GaugeOpts{Name: "triage_rules_reload_success", Help: "1 if the last rules reload attempt succeeded."})
	m.ReloadTimestamp = f.NewGauge(prometheus.GaugeOpts{Name: "triage_rules_last_reload_success_timestamp_seconds", Help: "Time of the last successful rules reload."})
	m.ReloadsTotal = f.NewCounterVec(prometheus.CounterOpts{Name: "triage_rules_reloads_total", Help: "Rules reload attempts by result (ok, unchanged, failed)."}, []string{"result"})
	m.RulesVersion = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_rules_version_info", Help: "The active rule set's version (content hash), value 1."}, []string{"version"})
	m.BuildInfo = f.NewGaugeVec(prometheus.GaugeOpts{Name: "triage_build_info", Help: "triage's version, value 1."}, []string{"version", "commit"})

	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&oldestAgeCollector{m: m, desc: prometheus.NewDesc("triage_mailbox_oldest_undone_age_seconds",
			"Age of the oldest message not yet done, per mailbox (0 when none).", []string{"account", "mailbox"}, nil)})
	return m
}

// SetOldest records the oldest undone message of a mailbox (zero time: none).
func (m *Metrics) SetOldest(account, mailbox string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{account, mailbox}
	if t.IsZero() {
		delete(m.oldest, k)
		m.OldestUndone.WithLabelValues(account, mailbox).Set(0)
		return
	}
	m.oldest[k] = t
	m.OldestUndone.WithLabelValues(account, mailbox).Set(float64(t.Unix()))
}

// SetRulesVersion makes v the only version reported by triage_rules_version_info.
func (m *Metrics) SetRulesVersion(v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastRule != "" && m.lastRule != v {
		m.RulesVersion.DeleteLabelValues(m.lastRule)
	}
	m.lastRule = v
	m.RulesVersion.WithLabelValues(v).Set(1)
}

// oldestAgeCollector computes the age at scrape time, so an alert on it fires
// even when nothing else happens (a stuck mailbox gets no new events).
type oldestAgeCollector struct {
	m    *Metrics
	desc *prometheus.Desc
}

func (c *oldestAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *oldestAgeCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	now := time.Now()
	for k, t := range c.m.oldest {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, now.Sub(t).Seconds(), k[0], k[1])
	}
}

// observeBuffer exports how much fetched mail is held in memory and the
// bound (max_buffered_bytes).
func (m *Metrics) observeBuffer(b *mailbox.Buffer) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "triage_mail_buffered_bytes", Help: "Bytes of fetched mail held in memory (waiting or being handled)."},
			func() float64 { return float64(b.InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "triage_mail_buffer_limit_bytes", Help: "max_buffered_bytes: fetching waits while the buffered mail would exceed it."},
			func() float64 { return float64(b.Size()) }),
	)
}
