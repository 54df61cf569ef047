// Package netaddr answers the one network question several packages ask
// before they allow a plaintext connection: does a host stay on this machine?
// It resolves no name and knows no protocol.
package netaddr

import (
	"net"
	"strings"
)

// IsLoopbackHost reports whether host (a name or an IP, without port) is
// localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
