// Package image builds the piraeusctl container image without a container
// engine: the Debian packages pinned in a lock file (package debian) are
// unpacked into one layer laid out as a merged-/usr Debian system, the
// static piraeusctl binary into another, and both are written with
// go-containerregistry as an OCI image layout (a multi-platform index with
// an SPDX SBOM attached to each platform's manifest) and as `docker
// load`-able tarballs. Every byte is a function of the lock, the binaries
// and the stamp (version, revision, SOURCE_DATE_EPOCH), so two builds give
// the same digests. ExtractRootfs unpacks an image into a directory.
package image
