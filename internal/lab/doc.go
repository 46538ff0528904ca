// Package lab is the real-storage test bed: it boots small qemu VMs (TCG,
// the 6.1 kernel Debian currently ships, with device-mapper thin pools and
// either DRBD 9 built from source or the kernel's in-tree DRBD 8.4), each
// with a fresh raw virtio disk and this tree's static piraeusctl inside,
// links them pairwise with qemu socket networking on 127.0.0.1 (cables that
// SetLinks pulls over each VM's QMP socket), forwards each guest's agent
// port and command channel (package guestapi) to 127.0.0.1 on the host
// (and, when asked, host services on 127.0.0.1 into the guests: GuestForwards),
// captures every console, and always stops the VMs. The artefacts come from
// hack/lab/lab.sh; the scenario tests of this package drive the real
// `piraeusctl agent` in the guests over mutual TLS and record real DRBD 9
// output as parser inputs (RecordEnv).
package lab
