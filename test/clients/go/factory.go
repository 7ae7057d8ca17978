package main

import (
	"context"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// cmdFactory runs what a typical controller or node agent runs: one SharedInformerFactory over a
// typed clientset, scoped to a namespace, with informers for ConfigMaps, Services, EndpointSlices
// and Pods. The clientset speaks protobuf as components configure it (--content-type), and the
// WatchListClient feature stays at the client-go default of the build (off in v0.34, on since
// v0.35), so the request log shows which of LIST+WATCH or WatchList the reflectors used.
func cmdFactory(ctx context.Context, _ dynamic.NamespaceableResourceInterface, o *options) error {
	client, err := kubernetes.NewForConfig(o.typedConfig())
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(o.namespace))
	return runInformers(ctx, []watched{
		{resource: "configmaps", informer: factory.Core().V1().ConfigMaps().Informer()},
		{resource: "services", informer: factory.Core().V1().Services().Informer()},
		{resource: "endpointslices", informer: factory.Discovery().V1().EndpointSlices().Informer()},
		{resource: "pods", informer: factory.Core().V1().Pods().Informer()},
	}, factory.Start)
}
