package linstorapi

import (
	"context"
	"fmt"

	linstor "github.com/LINBIT/golinstor"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// topology reads the StorageTopology from the cache; a missing one is an
// error (no nodes, no groups).
func (s *Server) topology(ctx context.Context) (*storagev1alpha1.StorageTopology, error) {
	t := &storagev1alpha1.StorageTopology{}
	if err := s.c.Get(ctx, types.NamespacedName{Name: plan.TopologyName}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return &storagev1alpha1.StorageTopology{}, nil
		}
		return nil, internal(err, "read StorageTopology")
	}
	return t, nil
}

// volume reads the StorageVolume of a resource definition name.
func (s *Server) volume(ctx context.Context, rd string) (*storagev1alpha1.StorageVolume, error) {
	name, err := rdName(rd)
	if err != nil {
		return nil, notFound(uint64(linstor.FailNotFoundRscDfn)|maskRscDfn, "resource definition %q not found", rd)
	}
	v := &storagev1alpha1.StorageVolume{}
	if err := s.c.Get(ctx, types.NamespacedName{Name: name}, v); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound(uint64(linstor.FailNotFoundRscDfn)|maskRscDfn, "resource definition %q not found", rd)
		}
		return nil, internal(err, "read StorageVolume "+name)
	}
	return v, nil
}

// volumes lists every StorageVolume (cache, no deep copy: read only).
func (s *Server) volumes(ctx context.Context) ([]storagev1alpha1.StorageVolume, error) {
	l := &storagev1alpha1.StorageVolumeList{}
	if err := s.c.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
		return nil, internal(err, "list StorageVolumes")
	}
	return l.Items, nil
}

// snapshots lists every StorageSnapshot (cache, no deep copy: read only).
func (s *Server) snapshots(ctx context.Context) ([]storagev1alpha1.StorageSnapshot, error) {
	l := &storagev1alpha1.StorageSnapshotList{}
	if err := s.c.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
		return nil, internal(err, "list StorageSnapshots")
	}
	return l.Items, nil
}

// updateVolume changes a resource definition's StorageVolume with
// optimistic concurrency: mutate runs on a fresh copy (from the API server
// after a conflict) and may refuse with an error.
func (s *Server) updateVolume(ctx context.Context, rd string, mutate func(*storagev1alpha1.StorageVolume) error) (*storagev1alpha1.StorageVolume, error) {
	var out *storagev1alpha1.StorageVolume
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		v, err := s.volume(ctx, rd)
		if err != nil {
			return err
		}
		if !first {
			// The cache may lag behind the conflict: read past it.
			if err := s.r.Get(ctx, client.ObjectKeyFromObject(v), v); err != nil {
				return internal(err, "read StorageVolume")
			}
		}
		first = false
		if err := mutate(v); err != nil {
			return err
		}
		if err := s.c.Update(ctx, v, client.FieldOwner(FieldManager)); err != nil {
			if apierrors.IsConflict(err) {
				return err
			}
			return writeError(err, "StorageVolume "+v.Name)
		}
		out = v
		return nil
	})
	if apierrors.IsConflict(err) {
		return nil, fail(409, uint64(linstor.FailUnknownError)|maskRscDfn, "resource definition %q changed concurrently; retry", rd)
	}
	return out, err
}

// writeError maps an API server refusal to an ApiCallRc: the webhook's
// and the schema's refusals are invalid requests, with their message.
func writeError(err error, what string) error {
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err):
		return invalid(uint64(linstor.FailInvldProp), "%s refused: %v", what, err)
	case apierrors.IsAlreadyExists(err):
		return exists(uint64(linstor.FailExistsRscDfn)|maskRscDfn, "%s already exists", what)
	default:
		return internal(err, fmt.Sprintf("write %s", what))
	}
}
