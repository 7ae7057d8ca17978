package main

import (
	"context"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
)

// cmdDynamicInformer runs a dynamicinformer shared informer (JSON, any resource; custom resources
// are only served in JSON) on --group/--version/--resource: what operators built on unstructured
// objects run. The "informer" subcommand is the same informer without the request log.
func cmdDynamicInformer(ctx context.Context, _ dynamic.NamespaceableResourceInterface, o *options) error {
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(o.dynamicClient, 0, o.namespace, nil)
	informer := factory.ForResource(o.gvr()).Informer()
	return runInformers(ctx, []watched{{resource: o.resource, informer: informer}}, factory.Start)
}
