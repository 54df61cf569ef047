#!/bin/sh
# Test command for the exec sink. $1 picks the behaviour; $2 is an output path.
case "$1" in
ok)
	cat >"$2"
	env | grep '^TRIAGE_' | sort >"$2.env"
	env | grep -c '^TEST_SECRET_' >"$2.secrets" || true
	echo "stored ticket $TRIAGE_TICKET_ID"
	exit 0 ;;
tempfail)
	cat >/dev/null
	echo "tracker busy" >&2
	exit 75 ;;
fail)
	echo "rejected: bad input"
	exit 1 ;;
noisy)
	i=0
	while [ $i -lt 2000 ]; do echo "line $i of noise that goes on and on"; i=$((i+1)); done
	exit 1 ;;
hang)
	sleep 300 &
	echo $! >"$2"
	sleep 300 ;;
daemonize)
	# delivers and exits 0, leaving a child that holds stdout open
	cat >/dev/null
	sleep 300 &
	echo $! >"$2"
	echo "delivered"
	exit 0 ;;
flaky)
	# fails with EX_TEMPFAIL until the marker file exists
	if [ -e "$2" ]; then cat >/dev/null; exit 0; fi
	exit 75 ;;
esac
echo "unknown mode $1" >&2
exit 2
