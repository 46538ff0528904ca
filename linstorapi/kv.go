package linstorapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The key-value store is one ConfigMap per store in the controller's
// namespace, labelled LabelKV=<store name>, holding the props as JSON
// (LINSTOR keys hold "/", which ConfigMap keys cannot). It is read past
// the cache: a ConfigMap informer would watch every namespace.
const (
	LabelKV      = "storage.piraeus.io/linstor-kv"
	kvPrefix     = "linstor-kv-"
	kvDataKey    = "props.json"
	kvAnnotation = AnnotationName
)

func kvNotFound(name string) error {
	return notFound(uint64(linstor.FailNotFoundKvs)|maskKvs, "key-value store %q not found", name)
}

func (s *Server) kvObject(name string) (types.NamespacedName, error) {
	obj, err := objectName(name, uint64(linstor.FailInvldProp)|maskKvs, "key-value store")
	return types.NamespacedName{Namespace: s.opts.Namespace, Name: kvPrefix + obj}, err
}

func kvDTO(cm *corev1.ConfigMap) lapi.KV {
	props := map[string]string{}
	_ = json.Unmarshal([]byte(cm.Data[kvDataKey]), &props)
	return lapi.KV{Name: cm.Labels[LabelKV], Props: props}
}

func (s *Server) listKV(r *http.Request) (int, any, error) {
	l := &corev1.ConfigMapList{}
	if err := s.r.List(r.Context(), l, client.InNamespace(s.opts.Namespace), client.HasLabels{LabelKV}); err != nil {
		return 0, nil, internal(err, "list key-value stores")
	}
	out := make([]lapi.KV, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, kvDTO(&l.Items[i]))
	}
	slices.SortFunc(out, func(a, b lapi.KV) int { return strings.Compare(a.Name, b.Name) })
	return http.StatusOK, out, nil
}

func (s *Server) getKV(r *http.Request) (int, any, error) {
	key, err := s.kvObject(r.PathValue("kv"))
	if err != nil {
		return 0, nil, kvNotFound(r.PathValue("kv"))
	}
	cm := &corev1.ConfigMap{}
	if err := s.r.Get(r.Context(), key, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil, kvNotFound(r.PathValue("kv"))
		}
		return 0, nil, internal(err, "read key-value store")
	}
	return http.StatusOK, kvDTO(cm), nil
}

func (s *Server) modifyKV(r *http.Request) (int, any, error) {
	var in lapi.GenericPropsModify
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("kv")
	key, err := s.kvObject(name)
	if err != nil {
		return 0, nil, err
	}
	for k := range in.OverrideProps {
		if k == "" {
			return 0, nil, invalid(uint64(linstor.FailInvldProp)|maskKvs, "empty key in key-value store %q", name)
		}
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm := &corev1.ConfigMap{}
		err := s.r.Get(r.Context(), key, cm)
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return internal(err, "read key-value store")
		}
		props := kvDTO(cm).Props
		for _, k := range in.DeleteProps {
			delete(props, k)
		}
		for _, ns := range in.DeleteNamespaces {
			for k := range props {
				if strings.HasPrefix(k, strings.TrimSuffix(ns, "/")+"/") {
					delete(props, k)
				}
			}
		}
		for k, v := range in.OverrideProps {
			props[k] = v
		}
		b, _ := json.Marshal(props)
		cm.Name, cm.Namespace = key.Name, key.Namespace
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		cm.Labels[LabelKV] = name
		cm.Labels["app.kubernetes.io/component"] = "linstor-controller"
		cm.Data = map[string]string{kvDataKey: string(b)}
		if create {
			err = s.c.Create(r.Context(), cm, client.FieldOwner(FieldManager))
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("configmaps"), key.Name, err)
			}
		} else {
			err = s.c.Update(r.Context(), cm, client.FieldOwner(FieldManager))
		}
		return err
	})
	if err != nil {
		return 0, nil, asAPIErrorOr(err, "write key-value store "+name)
	}
	return ok(http.StatusOK, uint64(linstor.Modified)|maskKvs|opModify, "Key-value store '%s' modified.", name)
}

func (s *Server) deleteKV(r *http.Request) (int, any, error) {
	key, err := s.kvObject(r.PathValue("kv"))
	if err != nil {
		return 0, nil, kvNotFound(r.PathValue("kv"))
	}
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = key.Name, key.Namespace
	if err := s.c.Delete(r.Context(), cm); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil, kvNotFound(r.PathValue("kv"))
		}
		return 0, nil, internal(err, "delete key-value store")
	}
	return ok(http.StatusOK, uint64(linstor.Deleted)|maskKvs|opDelete, "Key-value store '%s' deleted.", r.PathValue("kv"))
}

// asAPIErrorOr keeps an apiError and wraps anything else as internal.
func asAPIErrorOr(err error, what string) error {
	if _, isAPI := err.(*apiError); isAPI {
		return err
	}
	return internal(err, what)
}
