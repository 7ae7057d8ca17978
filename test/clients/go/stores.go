package main

import (
	"bufio"
	"context"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// The informer modes (informer, dynamic, metadata, factory) share one way of reporting: every
// handler call as a line, a "synced" line per informer once its first list (or WatchList stream)
// is in, and on each "dump" line on stdin the store of every informer (names and resourceVersions,
// what the tests compare with kube-apiserver's own LIST), then a "dumped" line.

type handlerLine struct {
	Type            string `json:"type"` // "add", "update", "delete"
	Resource        string `json:"resource,omitempty"`
	Name            string `json:"name"`
	ResourceVersion string `json:"resourceVersion"`
}

type storeLine struct {
	Type     string   `json:"type"` // "store"
	Resource string   `json:"resource,omitempty"`
	Items    []string `json:"items"` // "name@resourceVersion", sorted
}

type syncedLine struct {
	Type            string `json:"type"` // "synced"
	Resource        string `json:"resource"`
	ResourceVersion string `json:"resourceVersion"` // the informer's LastSyncResourceVersion at that moment
}

// watched is one informer of a mode, named by the resource its lines carry.
type watched struct {
	resource string
	informer cache.SharedIndexInformer
}

// runInformers registers the reporting handlers, starts the informers with start (a factory's
// Start, so the mode runs them the way a real component does) and serves "dump" requests until
// stdin closes or ctx ends.
func runInformers(ctx context.Context, informers []watched, start func(stop <-chan struct{})) error {
	for _, w := range informers {
		resource := w.resource
		report := func(kind string, obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if m, err := meta.Accessor(obj); err == nil {
				emit(handlerLine{Type: kind, Resource: resource, Name: m.GetName(), ResourceVersion: m.GetResourceVersion()})
			}
		}
		if _, err := w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { report("add", obj) },
			UpdateFunc: func(_, obj any) { report("update", obj) },
			DeleteFunc: func(obj any) { report("delete", obj) },
		}); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start(ctx.Done())
	for _, w := range informers {
		go func(w watched) {
			if cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
				emit(syncedLine{Type: "synced", Resource: w.resource, ResourceVersion: w.informer.LastSyncResourceVersion()})
			}
		}(w)
	}

	commands := make(chan string)
	go func() {
		defer close(commands)
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			commands <- strings.TrimSpace(lines.Text())
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case cmd, ok := <-commands:
			if !ok {
				return nil
			}
			if cmd != "dump" {
				continue
			}
			for _, w := range informers {
				emit(storeLine{Type: "store", Resource: w.resource, Items: storeItems(w.informer.GetStore())})
			}
			emit(markerLine{Type: "dumped"})
		}
	}
}

func storeItems(store cache.Store) []string {
	items := []string{}
	for _, obj := range store.List() {
		if m, err := meta.Accessor(obj); err == nil {
			items = append(items, m.GetName()+"@"+m.GetResourceVersion())
		}
	}
	sort.Strings(items)
	return items
}
