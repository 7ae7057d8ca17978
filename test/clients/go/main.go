// Command inclusterclient is a deliberately small client-go program for the
// edge-metaserver end-to-end tests. It talks to the API server exactly like a
// real in-cluster workload does (rest.InClusterConfig plus the dynamic client,
// so any resource works) and reports what it saw as JSON lines on stdout.
//
// Besides the one-request subcommands it has modes that behave like real
// components (factory, metadata, dynamic, leader, typedwrite; see their files).
// Those print a "client" line first (client-go version, WatchListClient, the
// configured encodings) and, unless --log-requests=false, one "request" line
// per HTTP request (method, path, query, Accept, Content-Type, status).
//
// Exit codes: 0 success, 1 other failure (transport, bad manifest, ...),
// 2 usage or in-cluster config error, 3 the server answered with an error
// status (or sent a watch ERROR event).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitAPIError = 3

	saNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
	userAgent       = "edge-metaserver-test-client-go"
)

// options holds every flag; each subcommand registers only the ones it uses.
type options struct {
	group, version, resource string
	namespace                string
	namespaceSet             bool // --namespace or --all-namespaces given explicitly
	timeout                  time.Duration

	name, file                   string
	labelSelector, fieldSelector string
	resourceVersion              string
	limit                        int64
	bookmarks                    bool
	maxEvents                    int
	watchTimeout                 time.Duration

	// Component modes.
	contentType         string // "protobuf", "json" or "default" (client-go's own choice)
	logRequests         bool
	leaseName, identity string
	leaseDuration       time.Duration
	renewDeadline       time.Duration
	retryPeriod         time.Duration
	releaseOnCancel     bool

	config        *rest.Config      // in-cluster config, for modes that build their own clients
	dynamicClient dynamic.Interface // for the informers, which build their own resource clients
}

func (o *options) gvr() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: o.group, Version: o.version, Resource: o.resource}
}

type command func(ctx context.Context, res dynamic.NamespaceableResourceInterface, o *options) error

var commands = map[string]command{
	"get":           cmdGet,
	"list":          cmdList,
	"create":        cmdCreate,
	"update-status": cmdUpdateStatus,
	"watch":         cmdWatch,
	"informer":      cmdDynamicInformer,
	// Modes that behave like real components.
	"factory":    cmdFactory,
	"metadata":   cmdMetadataInformer,
	"dynamic":    cmdDynamicInformer,
	"leader":     cmdLeader,
	"typedwrite": cmdTypedWrite,
}

// componentModes need no --resource (factory, leader, typedwrite pick their own) or take it
// optionally; they all print the client line and, by default, the request log.
var componentModes = map[string]bool{"factory": true, "metadata": true, "dynamic": true, "leader": true, "typedwrite": true}
var ownResources = map[string]bool{"factory": true, "leader": true, "typedwrite": true}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 || commands[args[0]] == nil {
		fmt.Fprintln(os.Stderr, "usage: inclusterclient get|list|create|update-status|watch|informer|factory|metadata|dynamic|leader|typedwrite [flags] (see -h)")
		return exitUsage
	}
	o, err := parseFlags(args[0], args[1:])
	if err != nil {
		return exitUsage // the flag package (or parseFlags) already explained why
	}

	cfg, err := rest.InClusterConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "inclusterclient: in-cluster config:", err)
		return exitUsage
	}
	cfg.UserAgent = userAgent
	// Tests page through lists quickly; client-side throttling would only add
	// noise to timings, so disable the default 5 QPS limiter (QPS < 0).
	cfg.QPS = -1
	if o.logRequests {
		cfg.Wrap(withRequestLog)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inclusterclient: client:", err)
		return exitUsage
	}

	o.config, o.dynamicClient = cfg, client
	if componentModes[args[0]] {
		emit(o.clientLine())
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	return exitCode(commands[args[0]](ctx, client.Resource(o.gvr()), o))
}

func parseFlags(cmd string, args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.StringVar(&o.group, "group", "", `API group ("" = core)`)
	fs.StringVar(&o.version, "version", "v1", "API version")
	fs.StringVar(&o.resource, "resource", "", "plural resource name, e.g. configmaps (required)")
	fs.StringVar(&o.namespace, "namespace", defaultNamespace(), `namespace; --namespace="" for cluster-scoped resources`)
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "overall deadline")
	allNamespaces := false
	switch cmd {
	case "get":
		fs.StringVar(&o.name, "name", "", "object name (required)")
	case "list":
		fs.Int64Var(&o.limit, "limit", 0, "page size; > 0 pages through with continue tokens")
		fs.StringVar(&o.resourceVersion, "resource-version", "", "resourceVersion for the first page")
		fs.StringVar(&o.labelSelector, "label-selector", "", "label selector")
		fs.StringVar(&o.fieldSelector, "field-selector", "", "field selector")
		fs.BoolVar(&allNamespaces, "all-namespaces", false, "list across all namespaces")
	case "create":
		fs.StringVar(&o.file, "file", "", "JSON or YAML manifest, - for stdin (required)")
	case "update-status":
		fs.StringVar(&o.name, "name", "", "object name (default: metadata.name from --file)")
		fs.StringVar(&o.file, "file", "", "JSON or YAML object, - for stdin (required)")
	case "watch":
		fs.StringVar(&o.resourceVersion, "resource-version", "", "resourceVersion to watch from")
		fs.BoolVar(&o.bookmarks, "bookmarks", false, "set allowWatchBookmarks")
		fs.IntVar(&o.maxEvents, "max-events", 0, "stop after this many events (0 = no limit)")
		fs.StringVar(&o.labelSelector, "label-selector", "", "label selector")
		fs.StringVar(&o.fieldSelector, "field-selector", "", "field selector")
		fs.DurationVar(&o.watchTimeout, "watch-timeout", 0, "server-side timeoutSeconds (rounded up)")
		fs.BoolVar(&allNamespaces, "all-namespaces", false, "watch across all namespaces")
	}
	if componentModes[cmd] {
		fs.BoolVar(&o.logRequests, "log-requests", true, "print one request line per HTTP request")
		fs.StringVar(&o.contentType, "content-type", "protobuf", "typed clients: protobuf (as components set it), json, or default (client-go's choice)")
	}
	switch cmd {
	case "leader":
		fs.StringVar(&o.leaseName, "lease-name", "edge-test-leader", "coordination.k8s.io Lease to hold")
		fs.StringVar(&o.identity, "identity", "", "holder identity (required)")
		fs.DurationVar(&o.leaseDuration, "lease-duration", 15*time.Second, "LeaseDuration")
		fs.DurationVar(&o.renewDeadline, "renew-deadline", 10*time.Second, "RenewDeadline")
		fs.DurationVar(&o.retryPeriod, "retry-period", 2*time.Second, "RetryPeriod")
		fs.BoolVar(&o.releaseOnCancel, "release-on-cancel", true, "give the Lease up when stdin closes")
	case "typedwrite":
		fs.StringVar(&o.name, "name", "typed", "name of the objects written")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.namespaceSet = o.namespaceSet || f.Name == "namespace" })
	if allNamespaces {
		o.namespace, o.namespaceSet = "", true
	}

	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if o.resource == "" && !ownResources[cmd] {
		problems = append(problems, "--resource is required")
	}
	if cmd == "get" && o.name == "" {
		problems = append(problems, "--name is required")
	}
	if componentModes[cmd] && o.contentType != "protobuf" && o.contentType != "json" && o.contentType != "default" {
		problems = append(problems, "--content-type must be protobuf, json or default")
	}
	if cmd == "leader" && o.identity == "" {
		problems = append(problems, "--identity is required")
	}
	if (cmd == "create" || cmd == "update-status") && o.file == "" {
		problems = append(problems, "--file is required")
	}
	if len(problems) > 0 {
		err := errors.New(strings.Join(problems, "; "))
		fmt.Fprintf(os.Stderr, "inclusterclient %s: %v\n", cmd, err)
		return nil, err
	}
	return o, nil
}

// defaultNamespace mirrors what in-cluster tools do: the pod's own namespace.
func defaultNamespace() string {
	if b, err := os.ReadFile(saNamespaceFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return corev1.NamespaceDefault
}
