// Package render turns a plan.Model into the complete, ordered list of
// Kubernetes objects a working datastore needs: the plan that people review,
// diff, export and apply.
//
// It exists so that every consumer (the printer, the exporter, the differ and
// the apply engine) sees one deterministic value built in one place. The
// pipeline is a series of small named steps, one file each:
//
//	input     model → template input (images, defaults, safe names, hashes)
//	evaluate  one Jsonnet VM run over every component template (vm.go)
//	objects   CRDs, StorageClasses, passthrough objects, the StorageTopology
//	podtemplate  spec.<component>.podTemplate and satellite podTemplates
//	patch     spec.patches of the LinstorCluster and satellite configurations
//	label     the standard app.kubernetes.io labels
//	sort      the one kind order (internal/kindorder), which is apply's order
//
// The result is a plain value: package planfile encodes, reads back, exports
// and diffs it, package apply converges a cluster to it, and WriteSummary
// reports it (with its placement) for people.
package render
