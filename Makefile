# triage — build, test and benchmark targets.
GO ?= go
DEB_PACKAGES := dovecot-imapd dovecot-lmtpd

.PHONY: all build test test-short deps vet staticcheck bench demo fuzz

all: build

build:
	$(GO) build -o bin/triage ./cmd/triage

# deps installs the Debian packages the integration tests need (a private
# Dovecot for IMAP and LMTP) when they are missing.
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

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

demo:
	$(GO) run ./cmd/triage demo

# bench prints the figures of the README's performance section.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./classifier/ ./rules/
	TRIAGE_BENCH=1 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./mailbox/ ./daemon/
