package linstorapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	linstor "github.com/LINBIT/golinstor"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// poll looks at the cache until cond holds, the wait timeout passes or ctx
// ends: again after each change the informers report (Notify), and every
// PollInterval in case none is wired.
func (s *Server) poll(ctx context.Context, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WaitTimeout)
	defer cancel()
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	for {
		changed := s.changes() // before cond: a change during cond is not missed
		done, err := cond()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// Notify tells waiting calls that a storage object changed in the cache
// (the controller wires it to the StorageVolume and StorageSnapshot
// informers), so a create returns as soon as its replicas are deployed.
func (s *Server) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// waitDeployed waits until every named node's replica of v is deployed
// with a device path for each volume (what linstor-csi reads right after
// the call returns). A replica that reports an error fails the wait.
func (s *Server) waitDeployed(ctx context.Context, v *storagev1alpha1.StorageVolume, nodes []string) error {
	if len(nodes) == 0 || len(v.Spec.Volumes) == 0 {
		return nil
	}
	var last *storagev1alpha1.StorageVolume
	err := s.poll(ctx, func() (bool, error) {
		cur := &storagev1alpha1.StorageVolume{}
		if err := s.c.Get(ctx, types.NamespacedName{Name: v.Name}, cur); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if cur.UID != v.UID || cur.DeletionTimestamp != nil {
			return false, fail(http.StatusConflict, uint64(linstor.FailUnknownError)|maskRsc, "resource definition %q was deleted while waiting for it to deploy", displayName(v))
		}
		last = cur
		for _, n := range nodes {
			if !deployed(cur, n) {
				return false, nil
			}
		}
		return true, nil
	})
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return fail(http.StatusInternalServerError, uint64(linstor.FailUnknownError)|maskRsc,
		"resource %q not deployed on %s within %s: %s", displayName(v), strings.Join(nodes, ", "), s.opts.WaitTimeout, pending(last, nodes))
}

// pending says what the replicas still wait for.
func pending(v *storagev1alpha1.StorageVolume, nodes []string) string {
	if v == nil {
		return "the volume is not in the cache"
	}
	var why []string
	for _, c := range v.Status.Conditions {
		if c.Status != "True" && c.Message != "" {
			why = append(why, c.Type+": "+c.Message)
		}
	}
	for _, n := range nodes {
		if st := v.Status.Replica(n); st != nil && st.LastError != "" {
			why = append(why, n+": "+st.LastError)
		}
	}
	if len(why) == 0 {
		return "no status reported yet"
	}
	return strings.Join(why, "; ")
}

// waitGone waits until the StorageVolume name is gone from the cache.
func (s *Server) waitGone(ctx context.Context, name string) error {
	return s.poll(ctx, func() (bool, error) {
		err := s.c.Get(ctx, types.NamespacedName{Name: name}, &storagev1alpha1.StorageVolume{})
		if err == nil {
			return false, nil
		}
		return true, client.IgnoreNotFound(err)
	})
}

// waitReplicaGone waits until node no longer reports the volume (its
// storage is removed), bounded like every wait.
func (s *Server) waitReplicaGone(ctx context.Context, name, node string) error {
	err := s.poll(ctx, func() (bool, error) {
		cur := &storagev1alpha1.StorageVolume{}
		if err := s.c.Get(ctx, types.NamespacedName{Name: name}, cur); err != nil {
			return true, client.IgnoreNotFound(err)
		}
		return cur.Status.Replica(node) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%s still holds the replica after %s", node, s.opts.WaitTimeout)
	}
	return nil
}
