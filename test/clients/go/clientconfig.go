package main

import (
	"runtime/debug"

	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/rest"
)

const (
	protobufType = "application/vnd.kubernetes.protobuf"
	// What kube-controller-manager, kube-scheduler and kube-proxy configure for their clientsets
	// (component-base's ClientConnectionConfiguration defaults).
	protobufAccept = "application/vnd.kubernetes.protobuf,application/json"
)

// typedConfig is the rest.Config a typed clientset gets in this run. "protobuf" is what components
// set explicitly; "default" leaves it to client-go (which since v0.32 still prefers protobuf for the
// built-in groups); "json" is what a client that opted out sends.
func (o *options) typedConfig() *rest.Config {
	cfg := rest.CopyConfig(o.config)
	switch o.contentType {
	case "protobuf":
		cfg.ContentType, cfg.AcceptContentTypes = protobufType, protobufAccept
	case "json":
		cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
	}
	return cfg
}

type clientLine struct {
	Type            string `json:"type"` // "client"
	ClientGo        string `json:"clientGo"`
	WatchListClient bool   `json:"watchListClient"`
	ContentType     string `json:"contentType"` // the typed clients' setting; "" = client-go's default
	Accept          string `json:"accept"`
}

// clientLine reports what this build does by default: the client-go version it was built against
// and whether its reflectors use WatchList (the WatchListClient feature, never forced here).
func (o *options) clientLine() clientLine {
	cfg := o.typedConfig()
	return clientLine{
		Type: "client", ClientGo: clientGoVersion(),
		WatchListClient: clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient),
		ContentType:     cfg.ContentType, Accept: cfg.AcceptContentTypes,
	}
}

func clientGoVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/client-go" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
