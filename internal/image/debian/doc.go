// Package debian reads Debian's archive without apt or dpkg: it fetches and
// verifies a suite's signed InRelease and Packages index, resolves the
// dependency closure of a set of packages, pins it in a lock file, downloads
// the pinned .deb files into a cache with sha256 verification, and unpacks
// them (ar members, tar compressed with xz, zstd or gzip). The image builder
// (package image) turns what it unpacks into layers.
package debian
