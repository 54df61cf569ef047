// Package netfault holds the network fault suite: the whole daemon runs
// through fault-injecting TCP proxies (internal/faultproxy) in front of a
// private Dovecot and its sinks, and every scenario checks that nothing is
// lost or marked done unforwarded. It owns the scenarios and their rig; the
// proxy itself lives in internal/faultproxy.
//
// The code is all in the _test.go files; see netfault_test.go for how to run.
package netfault
