package main

import (
	"bufio"
	"context"
	"os"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

type handlerLine struct {
	Type            string `json:"type"` // "add", "update", "delete"
	Name            string `json:"name"`
	ResourceVersion string `json:"resourceVersion"`
}

type storeLine struct {
	Type  string   `json:"type"` // "store"
	Items []string `json:"items"` // "name@resourceVersion", sorted
}

// cmdInformer runs a real shared informer (reflector: list, then watch,
// re-list on 410) and reports every handler call. Each "dump" line on stdin
// prints the informer's store; stdin EOF or the deadline stops it.
func cmdInformer(ctx context.Context, res dynamic.NamespaceableResourceInterface, o *options) error {
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(o.dynamicClient, 0, o.namespace, nil)
	informer := factory.ForResource(o.gvr()).Informer()
	var mu sync.Mutex // one line at a time
	report := func(kind string, obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		emit(handlerLine{Type: kind, Name: u.GetName(), ResourceVersion: u.GetResourceVersion()})
	}
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { report("add", obj) },
		UpdateFunc: func(_, obj any) { report("update", obj) },
		DeleteFunc: func(obj any) { report("delete", obj) },
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go informer.Run(ctx.Done())

	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		if strings.TrimSpace(lines.Text()) != "dump" {
			continue
		}
		items := []string{}
		for _, obj := range informer.GetStore().List() {
			u := obj.(*unstructured.Unstructured)
			items = append(items, u.GetName()+"@"+u.GetResourceVersion())
		}
		sort.Strings(items)
		mu.Lock()
		emit(storeLine{Type: "store", Items: items})
		mu.Unlock()
	}
	return nil
}
