// Package linstorapi is LINSTOR's REST API v1 as a facade over the storage
// objects (StorageTopology, StorageVolume, StorageSnapshot): no second store.
// A resource definition is a StorageVolume, its volume definitions are its
// spec.volumes, its resources are its replicas (spec for intent, status for
// what the agents report); a snapshot is a StorageSnapshot; a resource group
// is an entry of the StorageTopology's resourceGroups; the key-value store is
// ConfigMaps in the controller's namespace. Reads come from the
// controller-runtime cache, writes go to the API server with optimistic
// concurrency; the elected controller places and converges. The DTOs are
// golinstor's, so field names, KiB units, flags and the ApiCallRc error model
// with its masked return codes are LINSTOR's.
package linstorapi
