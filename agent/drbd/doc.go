// Package drbd speaks DRBD 9 for the node agent: it renders one resource
// file per resource (checked by drbdadm's own parser in tests), builds the
// drbdadm/drbdsetup command lines of the resource lifecycle, and parses what
// the kernel reports through `drbdsetup status --json` and
// `drbdsetup events2`. Both parsers yield the same State model, so the HA
// controller can follow events2 with the code the agent uses for status.
package drbd
