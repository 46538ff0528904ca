// Package agent is the node agent (`piraeusctl agent`, our LINSTOR
// satellite). It is told its node's complete desired state over gRPC with
// mutual TLS and converges the host to it: storage pools and backing volumes
// (package storage), DRBD resource files and the DRBD lifecycle (package
// drbd), all through a hostexec.Executor. It reads the host before it acts,
// runs only what is needed (a repeated Apply runs no mutating command), keeps
// no state of its own, and removes storage only on an explicit
// DeleteResource naming the resource and its uid; everything else it finds
// but was not told about is reported as an orphan.
package agent
