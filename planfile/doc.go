// Package planfile is the plan outside the process: the files people
// review, commit and hand to Argo CD or Flux. It encodes a plan's objects
// (multi-document YAML with stable key order, or a JSON List), reads plan
// files and export folders back, exports a plan as a GitOps folder, diffs
// two plans object by object and takes the StorageTopology out of a plan.
//
// Export and Diff live here because they are the other forms of the same
// codec: an export folder is a plan file split into one file per object
// (ReadPath reads both), and a plan diff compares two plans as their YAML
// reads. The summary for people stays in render, next to the rendering and
// placement it reports on. The package works on plain object lists, so it
// serves rendered plans and plans read back alike, and depends on no
// rendering.
package planfile
