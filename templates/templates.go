// Package templates holds the Jsonnet templates that turn the plan's model
// into Kubernetes objects: one file per component plus a shared library
// under lib/. They are embedded in the binary; `--templates DIR` files are
// searched first, so users can replace a component or add their own.
//
// Every top-level *.jsonnet file is a component: a function of the render
// input (see render.Input) that returns an array of objects. Objects that
// belong to one node's satellite carry the annotation storage.piraeus.io/node.
package templates

import (
	"embed"
	"io/fs"
)

//go:embed *.jsonnet lib/*.libsonnet
var files embed.FS

// FS returns the embedded templates.
func FS() fs.FS { return files }
