// Package plan is the pure model of piraeusctl: it loads the YAML a Piraeus
// user has (piraeus.io/v1 objects, Nodes, StorageClasses, PVCs and PVs),
// validates it against the shipped CRD schemas and upstream's semantic rules,
// and derives the StorageTopology (which nodes run satellites with which
// pools and properties, node connections, resource groups, volumes).
//
// It never talks to a cluster and never renders manifests: inputs in, Model out.
package plan
