package main

import (
	"context"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
)

// cmdMetadataInformer runs a metadata-only shared informer (PartialObjectMetadata, as
// controller-runtime metadata caches and garbage-collector-style controllers do) on
// --group/--version/--resource. The metadata client asks for
// `as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1` in protobuf first, then JSON.
func cmdMetadataInformer(ctx context.Context, _ dynamic.NamespaceableResourceInterface, o *options) error {
	client, err := metadata.NewForConfig(o.config)
	if err != nil {
		return err
	}
	factory := metadatainformer.NewFilteredSharedInformerFactory(client, 0, o.namespace, nil)
	informer := factory.ForResource(o.gvr()).Informer()
	return runInformers(ctx, []watched{{resource: o.resource, informer: informer}}, factory.Start)
}
