package hacontroller

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
)

// Summary is the DRBD state that decisions depend on, on one line, e.g.
//
//	pvc-7 Secondary quorum:yes policy:majority | node-a NetworkFailure peer:Unknown lost:6.2s | node-c Connected peer:Secondary
//
// Durations are relative to now; with a zero now, times are absolute.
func (r *ResourceState) Summary(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Name, orDash(r.Role))
	if r.Suspended {
		b.WriteString(" suspended")
		writeSince(&b, r.SuspendedSince, now)
	}
	if r.ForceIOFailures {
		b.WriteString(" force-io-failures")
	}
	switch {
	case len(r.Devices) == 0:
		b.WriteString(" no-devices")
	case r.HasQuorum():
		b.WriteString(" quorum:yes")
	default:
		b.WriteString(" quorum:no")
		writeSince(&b, r.NoQuorumSince, now)
	}
	for _, d := range r.Devices {
		fmt.Fprintf(&b, " disk%d:%s", d.Volume, orDash(d.DiskState))
	}
	switch {
	case !r.OptionsKnown:
		b.WriteString(" policy:unread")
	case r.Options.HasQuorumPolicy():
		fmt.Fprintf(&b, " policy:%s", r.Options.Quorum)
	default:
		b.WriteString(" policy:off")
	}
	conns := slices.Clone(r.Connections)
	slices.SortFunc(conns, func(a, b2 drbd.Connection) int { return strings.Compare(a.Name, b2.Name) })
	for _, c := range conns {
		fmt.Fprintf(&b, " | %s %s peer:%s", orDash(c.Name), orDash(c.State), orDash(c.PeerRole))
		if since, ok := r.LostSince[c.Name]; ok {
			b.WriteString(" lost")
			writeSince(&b, since, now)
		}
	}
	return b.String()
}

func writeSince(b *strings.Builder, since, now time.Time) {
	switch {
	case since.IsZero():
	case now.IsZero():
		b.WriteString("@" + since.UTC().Format("15:04:05.000"))
	default:
		b.WriteString(":" + now.Sub(since).Round(time.Millisecond).String())
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
