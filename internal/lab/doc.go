// Package lab is the real-storage test bed: it boots small qemu VMs (TCG,
// Debian's 6.1 kernel with in-tree DRBD 8.4 and device-mapper thin pools),
// each with a fresh raw virtio disk and this tree's static piraeusctl inside,
// links them pairwise with qemu socket networking on 127.0.0.1, forwards each
// guest's agent port and command channel (package guestapi) to 127.0.0.1 on
// the host, captures every console, and always stops the VMs. The artefacts
// come from hack/lab/lab.sh; the scenario tests of this package drive the
// real `piraeusctl agent` in the guests over mutual TLS.
package lab
