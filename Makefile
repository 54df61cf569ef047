# triage — build, test and benchmark targets.
GO ?= go
# go.mod pins the patched toolchain (toolchain line); let the go command
# fetch it through the module proxy even where the machine defaults to local.
export GOTOOLCHAIN ?= auto
DEB_PACKAGES := dovecot-imapd dovecot-lmtpd chromium request-tracker5 rt5-db-sqlite rt5-standalone

.PHONY: all build test test-short deps vet staticcheck vulncheck bench demo screenshots

all: build

build:
	$(GO) build -o bin/triage ./cmd/triage

# deps installs the Debian packages the integration tests need (a private
# Dovecot for IMAP and LMTP, Chromium for the console's browser tests,
# Request Tracker 5 with SQLite) when they are missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# test runs the whole suite with the race detector, against real servers.
test: deps
	$(GO) test -race -timeout 20m ./...

# screenshots keeps the console's page screenshots the browser test takes,
# under test-output/_artifacts/.
screenshots: deps
	mkdir -p $(CURDIR)/test-output
	$(GO) test -run TestConsoleInBrowser -count=1 -artifacts -outputdir $(CURDIR)/test-output ./console

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# vulncheck runs govulncheck against a vulnerability database built from
# golang.org/x/vulndb, fetched through the module proxy, so it works where
# vuln.go.dev is not reachable.
VULNDB := $(CURDIR)/.cache/vulndb
vulncheck:
	@set -e; dir=$$($(GO) mod download -json golang.org/x/vulndb@latest | sed -n 's/.*"Dir": "\(.*\)",/\1/p'); \
	rm -rf .cache/vulndb-src && mkdir -p .cache && cp -r "$$dir" .cache/vulndb-src && chmod -R u+w .cache/vulndb-src; \
	(cd .cache/vulndb-src && $(GO) run ./cmd/indexdb -vulns data/osv -out $(VULNDB)); \
	$(GO) run golang.org/x/vuln/cmd/govulncheck@latest -db file://$(VULNDB) ./...

demo:
	$(GO) run ./cmd/triage demo

# bench prints the figures of the README's performance section: decode and
# classify ns/op, rule evaluation, sink delivery, the pipeline's CPU per
# message, the backlog drain beside a bare BODY.PEEK[] fetch (and their
# ratio, with CPU per message of triage and of Dovecot), the IMAP layer alone,
# EXISTS-to-sink latency p50/p99 and the RSS with 100 idle watched mailboxes,
# against a private Dovecot.
bench: deps
	$(GO) test -run '^$$' -bench 'Decode20KB|Classify$$|ExampleMails|EvaluateExampleRules' -benchmem ./classifier/
	$(GO) test -run '^$$' -bench 'Evaluate1000Rules|EvaluateTypical' -benchmem ./rules/
	$(GO) test -run '^$$' -bench 'RouterDeliver' -benchmem ./queue/
	$(GO) test -run '^$$' -bench 'DaemonHandle' -benchtime 20000x -benchmem ./daemon/
	$(GO) test -run '^$$' -bench 'BacklogDrain|Bare' -benchtime 1x ./mailbox/
	$(GO) test -run '^$$' -bench 'DrainOverLatency' -benchtime 1x ./suites/netfault/
	$(GO) test -run '^$$' -bench 'DaemonDrain|DaemonExists|DaemonRetryLatency|DaemonIdle' -benchtime 1x -timeout 30m -v ./daemon/ | grep -E '^(Benchmark|    bench_test)'
