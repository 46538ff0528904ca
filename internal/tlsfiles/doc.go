// Package tlsfiles serves mutual TLS from a mounted kubernetes.io/tls
// Secret (tls.crt, tls.key, ca.crt). The files are read again at every
// handshake, so a renewed certificate or a CA bundle that gained or lost a
// CA is used by the next connection without a restart, while established
// connections keep the session they negotiated. The controller (client)
// and the agent (server) meet here.
package tlsfiles
