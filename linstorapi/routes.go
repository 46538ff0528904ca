package linstorapi

import "net/http"

// routes registers every route served; the README's compatibility table
// lists them. Anything else is a 404 with an ApiCallRc (ServeHTTP).
func (s *Server) routes() {
	s.handle("GET /v1/controller/version", s.version)
	s.handle("GET /v1/remotes", s.remotes)
	s.handle("GET /v1/remotes/{kind}", s.remoteKind)

	s.handle("GET /v1/nodes", s.listNodes)
	s.handle("GET /v1/nodes/{node}", s.getNode)
	s.handle("GET /v1/nodes/{node}/storage-pools", s.nodePools)
	s.handle("GET /v1/nodes/{node}/storage-pools/{pool}", s.nodePool)
	s.handle("GET /v1/view/storage-pools", s.viewPools)

	s.handle("GET /v1/resource-groups", s.listGroups)
	s.handle("POST /v1/resource-groups", s.createGroup)
	s.handle("GET /v1/resource-groups/{rg}", s.getGroup)
	s.handle("PUT /v1/resource-groups/{rg}", s.modifyGroup)
	s.handle("DELETE /v1/resource-groups/{rg}", s.deleteGroup)
	s.handle("GET /v1/resource-groups/{rg}/volume-groups", s.listVolumeGroups)
	s.handle("POST /v1/resource-groups/{rg}/volume-groups", s.createVolumeGroup)
	s.handle("GET /v1/resource-groups/{rg}/volume-groups/{vnr}", s.getVolumeGroup)

	s.handle("GET /v1/resource-definitions", s.listDefinitions)
	s.handle("POST /v1/resource-definitions", s.createDefinition)
	s.handle("GET /v1/resource-definitions/{rd}", s.getDefinition)
	s.handle("PUT /v1/resource-definitions/{rd}", s.modifyDefinition)
	s.handle("DELETE /v1/resource-definitions/{rd}", s.deleteDefinition)
	s.handle("GET /v1/resource-definitions/{rd}/volume-definitions", s.listVolumeDefinitions)
	s.handle("POST /v1/resource-definitions/{rd}/volume-definitions", s.createVolumeDefinition)
	s.handle("GET /v1/resource-definitions/{rd}/volume-definitions/{vnr}", s.getVolumeDefinition)
	s.handle("PUT /v1/resource-definitions/{rd}/volume-definitions/{vnr}", s.modifyVolumeDefinition)
	s.handle("DELETE /v1/resource-definitions/{rd}/volume-definitions/{vnr}", s.deleteVolumeDefinition)

	s.handle("POST /v1/resource-definitions/{rd}/autoplace", s.autoplace)
	s.handle("GET /v1/resource-definitions/{rd}/resources", s.listResources)
	s.handle("GET /v1/resource-definitions/{rd}/resources/{node}", s.getResource)
	s.handle("POST /v1/resource-definitions/{rd}/resources/{node}", s.createResource)
	s.handle("PUT /v1/resource-definitions/{rd}/resources/{node}", s.modifyResource)
	s.handle("DELETE /v1/resource-definitions/{rd}/resources/{node}", s.deleteResource)
	s.handle("POST /v1/resource-definitions/{rd}/resources/{node}/make-available", s.makeAvailable)
	s.handle("GET /v1/resource-definitions/{rd}/resources/{node}/volumes", s.listVolumes)
	s.handle("GET /v1/resource-definitions/{rd}/resources/{node}/volumes/{vnr}", s.getVolume)
	s.handle("PUT /v1/resource-definitions/{rd}/resources/{node}/volumes/{vnr}", s.modifyVolume)
	s.handle("GET /v1/view/resources", s.viewResources)

	s.handle("GET /v1/resource-definitions/{rd}/snapshots", s.listSnapshots)
	s.handle("POST /v1/resource-definitions/{rd}/snapshots", s.createSnapshot)
	s.handle("GET /v1/resource-definitions/{rd}/snapshots/{snap}", s.getSnapshot)
	s.handle("DELETE /v1/resource-definitions/{rd}/snapshots/{snap}", s.deleteSnapshot)
	s.handle("POST /v1/actions/snapshot/multi", s.createSnapshots)
	s.handle("GET /v1/view/snapshots", s.viewSnapshots)
	s.handle("POST /v1/resource-definitions/{rd}/snapshot-restore-resource/{snap}", s.restoreResource)
	s.handle("POST /v1/resource-definitions/{rd}/snapshot-restore-volume-definition/{snap}", s.restoreVolumeDefinitions)

	s.handle("POST /v1/resource-definitions/{rd}/clone", s.clone)
	s.handle("GET /v1/resource-definitions/{rd}/clone/{target}", s.cloneStatus)

	s.handle("GET /v1/key-value-store", s.listKV)
	s.handle("GET /v1/key-value-store/{kv}", s.getKV)
	s.handle("PUT /v1/key-value-store/{kv}", s.modifyKV)
	s.handle("POST /v1/key-value-store/{kv}", s.modifyKV)
	s.handle("DELETE /v1/key-value-store/{kv}", s.deleteKV)
}

// ok is a successful answer with LINSTOR's ApiCallRc list.
func ok(status int, code uint64, format string, args ...any) (int, any, error) {
	return status, success(code, format, args...), nil
}

var _ = http.StatusOK
