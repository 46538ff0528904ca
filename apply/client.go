package apply

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// cluster bundles the clients one run uses: the dynamic client and a RESTMapper
// over cached discovery that can be reset once new CRDs are established.
type cluster struct {
	dyn    dynamic.Interface
	cache  discovery.CachedDiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newCluster(cfg *rest.Config) (*cluster, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	cache := memory.NewMemCacheClient(disc)
	return &cluster{dyn: dyn, cache: cache, mapper: restmapper.NewDeferredDiscoveryRESTMapper(cache)}, nil
}

// resetMapper forgets cached discovery, so kinds of new CRDs resolve.
func (c *cluster) resetMapper() { c.mapper.Reset() }

// resource returns the client for obj's resource, in obj's namespace for
// namespaced kinds; namespaced objects without a namespace get defaultNS.
func (c *cluster) resource(obj *unstructured.Unstructured, defaultNS string) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", gvk, err)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		if obj.GetNamespace() != "" {
			obj.SetNamespace("")
		}
		return c.dyn.Resource(mapping.Resource), mapping, nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(defaultNS)
	}
	return c.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace()), mapping, nil
}
