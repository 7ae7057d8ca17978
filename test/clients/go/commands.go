package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

func cmdGet(ctx context.Context, res dynamic.NamespaceableResourceInterface, o *options) error {
	obj, err := res.Namespace(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return emitObject(obj)
}

func cmdList(ctx context.Context, res dynamic.NamespaceableResourceInterface, o *options) error {
	opts := metav1.ListOptions{
		LabelSelector:   o.labelSelector,
		FieldSelector:   o.fieldSelector,
		Limit:           o.limit,
		ResourceVersion: o.resourceVersion,
	}
	total := listLine{Type: "list", Names: []string{}}
	for {
		page, err := res.Namespace(o.namespace).List(ctx, opts)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(page.Items))
		for i := range page.Items {
			names = append(names, page.Items[i].GetName())
		}
		if total.Pages == 0 {
			total.ResourceVersion = page.GetResourceVersion()
		}
		total.Pages++
		total.Count += len(names)
		total.Names = append(total.Names, names...)
		emit(pageLine{Type: "page", ResourceVersion: page.GetResourceVersion(),
			Continue: page.GetContinue(), Count: len(names), Names: names})

		if o.limit <= 0 || page.GetContinue() == "" {
			break
		}
		// The continue token pins the snapshot; the server rejects an explicit
		// resourceVersion alongside it.
		opts.Continue, opts.ResourceVersion = page.GetContinue(), ""
	}
	emit(total)
	return nil
}

func cmdCreate(ctx context.Context, res dynamic.NamespaceableResourceInterface, o *options) error {
	obj, err := readObject(o.file)
	if err != nil {
		return err
	}
	created, err := res.Namespace(o.namespaceFor(obj)).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	return emitObject(created)
}

func cmdUpdateStatus(ctx context.Context, res dynamic.NamespaceableResourceInterface, o *options) error {
	in, err := readObject(o.file)
	if err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name = in.GetName()
	}
	if name == "" {
		return errors.New("update-status: no --name and no metadata.name in --file")
	}
	client := res.Namespace(o.namespaceFor(in))

	obj := in
	if in.GetResourceVersion() == "" {
		// Without a resourceVersion the file is just a status to apply: take
		// the current object (and thereby its resourceVersion, so the update
		// stays optimistic-concurrency safe) and replace only its status.
		cur, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if status, ok := in.Object["status"]; ok {
			cur.Object["status"] = status
		}
		obj = cur
	}
	obj.SetName(name)
	updated, err := client.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	return emitObject(updated)
}

// cmdWatch makes exactly one watch call and prints every event as received.
// No informer and no retries: the tests must see what the server sent.
func cmdWatch(ctx context.Context, res dynamic.NamespaceableResourceInterface, o *options) error {
	opts := metav1.ListOptions{
		ResourceVersion:     o.resourceVersion,
		AllowWatchBookmarks: o.bookmarks,
		LabelSelector:       o.labelSelector,
		FieldSelector:       o.fieldSelector,
	}
	if o.watchTimeout > 0 {
		secs := int64(math.Ceil(o.watchTimeout.Seconds()))
		opts.TimeoutSeconds = &secs
	}
	w, err := res.Namespace(o.namespace).Watch(ctx, opts)
	if err != nil {
		var st apierrors.APIStatus
		if ctx.Err() != nil && !errors.As(err, &st) {
			// Still waiting for the response headers at the deadline.
			emit(markerLine{Type: "timeout"})
			return nil
		}
		return err
	}
	defer w.Stop()

	for n := 0; o.maxEvents <= 0 || n < o.maxEvents; n++ {
		var ev watch.Event
		var ok bool
		select {
		case <-ctx.Done():
			emit(markerLine{Type: "timeout"})
			return nil
		case ev, ok = <-w.ResultChan():
		}
		if !ok {
			// Cancelling the context also closes the channel; tell the two apart.
			if ctx.Err() != nil {
				emit(markerLine{Type: "timeout"})
			} else {
				emit(markerLine{Type: "closed"})
			}
			return nil
		}
		if ev.Type == watch.Error {
			emit(errorEventLine(ev))
			return reported(exitAPIError)
		}
		line := eventLine{Type: string(ev.Type)}
		if m, err := meta.Accessor(ev.Object); err == nil {
			line.Name, line.ResourceVersion = m.GetName(), m.GetResourceVersion()
		}
		emit(line)
	}
	return nil
}

// errorEventLine decodes the metav1.Status carried by a watch ERROR event (the
// dynamic client delivers it as Unstructured; FromObject handles both forms).
func errorEventLine(ev watch.Event) statusLine {
	line := statusLine{Type: "ERROR"}
	err := apierrors.FromObject(ev.Object)
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		line.Code, line.Reason, line.Message = s.Code, string(s.Reason), s.Message
	} else {
		line.Message = err.Error()
	}
	return line
}

// readObject loads one JSON or YAML object from a path or "-" (stdin).
func readObject(path string) (*unstructured.Unstructured, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	js, err := yaml.ToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// util/json keeps integers as int64 (encoding/json would make them float64).
	obj := map[string]any{}
	if err := json.Unmarshal(js, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// namespaceFor picks the request namespace for an object from a file: an
// explicit flag wins, then the manifest's own metadata.namespace, then the default.
func (o *options) namespaceFor(obj *unstructured.Unstructured) string {
	if !o.namespaceSet && obj.GetNamespace() != "" {
		return obj.GetNamespace()
	}
	return o.namespace
}
