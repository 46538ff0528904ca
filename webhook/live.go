package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// ClusterLive reads the StorageTopology and PersistentVolumes straight from
// the API server (no cache: an admission decision must not act on stale data).
type ClusterLive struct {
	client client.Reader
	cfg    *rest.Config
}

// NewClusterLive returns a LiveSource reading through cfg.
func NewClusterLive(cfg *rest.Config) (*ClusterLive, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	if err := storagev1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client for update checks: %w", err)
	}
	return &ClusterLive{client: c, cfg: cfg}, nil
}

// Live returns the topology for satellite configuration updates and a
// volume-in-use check for topology updates.
func (l *ClusterLive) Live(ctx context.Context, kind string) (plan.Live, error) {
	switch kind {
	case "LinstorSatelliteConfiguration":
		t, err := l.topology(ctx)
		if err != nil {
			return plan.Live{}, err
		}
		vols, err := l.volumes(ctx)
		return plan.Live{Topology: t, Volumes: vols}, err
	case "StorageTopology":
		vols, err := l.volumes(ctx)
		return plan.Live{Volumes: vols}, err
	case "StorageVolume":
		return plan.Live{VolumeInUse: func(v *storagev1alpha1.StorageVolume) bool { return l.volumeInUse(ctx, v) },
			VolumeSnapshots: func(v *storagev1alpha1.StorageVolume) []string { return l.volumeSnapshots(ctx, v) }}, nil
	}
	return plan.Live{}, nil
}

// topology returns the cluster's one StorageTopology, or nil when there is
// none (nothing then proves a pool empty).
func (l *ClusterLive) topology(ctx context.Context) (*storagev1alpha1.StorageTopology, error) {
	var list storagev1alpha1.StorageTopologyList
	if err := l.client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list storagetopologies: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// volumes lists the cluster's StorageVolumes (an empty list, not nil, when
// there are none: that proves pools and nodes empty).
func (l *ClusterLive) volumes(ctx context.Context) ([]storagev1alpha1.StorageVolume, error) {
	var list storagev1alpha1.StorageVolumeList
	if err := l.client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list storagevolumes: %w", err)
	}
	if list.Items == nil {
		return []storagev1alpha1.StorageVolume{}, nil
	}
	return list.Items, nil
}

// volumeInUse: the volume's claim still exists and is not being deleted
// (CSI deletes the volume once the claim is gone and its PV released), or,
// without a claim, its PersistentVolume is bound. Read errors count as in use.
func (l *ClusterLive) volumeInUse(ctx context.Context, v *storagev1alpha1.StorageVolume) bool {
	if c := v.Spec.Claim; c != nil {
		pvc := &corev1.PersistentVolumeClaim{}
		exists, err := l.exists(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Name}, pvc)
		switch {
		case err != nil:
			return true
		case exists && pvc.DeletionTimestamp == nil && (c.UID == "" || string(pvc.UID) == c.UID):
			return true
		}
		return false
	}
	if v.Spec.PersistentVolume != "" {
		pv := &corev1.PersistentVolume{}
		exists, err := l.exists(ctx, types.NamespacedName{Name: v.Spec.PersistentVolume}, pv)
		return err != nil || exists && pv.Status.Phase == corev1.VolumeBound
	}
	return false
}

func (l *ClusterLive) exists(ctx context.Context, key types.NamespacedName, obj client.Object) (bool, error) {
	err := l.client.Get(ctx, key, obj)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// volumeSnapshots names the StorageSnapshots of a volume (of this uid, or
// not bound to one yet). A read error is named too: nothing proves the
// volume free of snapshots.
func (l *ClusterLive) volumeSnapshots(ctx context.Context, v *storagev1alpha1.StorageVolume) []string {
	var list storagev1alpha1.StorageSnapshotList
	if err := l.client.List(ctx, &list); err != nil {
		return []string{"(list storagesnapshots: " + err.Error() + ")"}
	}
	var out []string
	for _, s := range list.Items {
		if s.Spec.Volume == v.Name && (s.Spec.VolumeUID == "" || s.Spec.VolumeUID == string(v.UID)) {
			out = append(out, s.Name)
		}
	}
	return out
}
