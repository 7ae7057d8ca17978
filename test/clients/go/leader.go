package main

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// rfc3339Micro is how kube-apiserver prints a Lease's MicroTime fields, so the times in our lines
// compare as strings with the Lease read back from the apiserver.
const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

type leaderLine struct {
	Type     string `json:"type"`  // "leader"
	Event    string `json:"event"` // "started-leading", "stopped-leading", "new-leader", "exit"
	Identity string `json:"identity"`
	Leader   string `json:"leader,omitempty"` // new-leader: who holds the Lease now
	Time     string `json:"time"`
}

// leaseLine is one read or write of the Lease by the elector: a successful update by the holder is
// a renewal (or the acquisition), a failed one is what makes it lose leadership in time.
type leaseLine struct {
	Type             string `json:"type"` // "lease"
	Op               string `json:"op"`   // "get", "create", "update"
	OK               bool   `json:"ok"`
	Holder           string `json:"holder"`
	RenewTime        string `json:"renewTime,omitempty"`
	LeaseTransitions int    `json:"leaseTransitions"`
	Error            string `json:"error,omitempty"`
	Code             int32  `json:"code,omitempty"` // the Status code of a failed call, when the server answered
	Time             string `json:"time"`
}

// observedLock is the elector's LeaseLock with every Get/Create/Update reported; leaderelection
// has no renew callback, and the write outcomes are what the tests need.
type observedLock struct{ resourcelock.Interface }

func (l observedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	line := leaseLine{Type: "lease", Op: "get", OK: err == nil, Time: now()}
	if rec != nil {
		fillRecord(&line, *rec)
	}
	fillError(&line, err)
	emit(line)
	return rec, raw, err
}

func (l observedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.report("create", ler, l.Interface.Create(ctx, ler))
}

func (l observedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.report("update", ler, l.Interface.Update(ctx, ler))
}

func (l observedLock) report(op string, ler resourcelock.LeaderElectionRecord, err error) error {
	line := leaseLine{Type: "lease", Op: op, OK: err == nil, Time: now()}
	fillRecord(&line, ler)
	fillError(&line, err)
	emit(line)
	return err
}

func fillRecord(line *leaseLine, rec resourcelock.LeaderElectionRecord) {
	line.Holder, line.LeaseTransitions = rec.HolderIdentity, rec.LeaderTransitions
	if !rec.RenewTime.IsZero() {
		line.RenewTime = rec.RenewTime.UTC().Format(rfc3339Micro)
	}
}

func fillError(line *leaseLine, err error) {
	if err == nil {
		return
	}
	line.Error = err.Error()
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		line.Code = st.Status().Code
	}
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// cmdLeader runs client-go leader election on a coordination.k8s.io Lease in --namespace, the way
// controllers do (LeaseLock over a typed clientset, so protobuf bodies). It runs until it loses
// leadership (then exits, as components do), the deadline passes, or stdin closes (then it gives
// the Lease up when --release-on-cancel).
func cmdLeader(ctx context.Context, _ dynamic.NamespaceableResourceInterface, o *options) error {
	client, err := kubernetes.NewForConfig(o.typedConfig())
	if err != nil {
		return err
	}
	lock := observedLock{&resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.namespace, Name: o.leaseName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.identity},
	}}
	event := func(name, leader string) {
		emit(leaderLine{Type: "leader", Event: name, Identity: o.identity, Leader: leader, Time: now()})
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            o.leaseName,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		ReleaseOnCancel: o.releaseOnCancel,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { event("started-leading", o.identity) },
			OnStoppedLeading: func() { event("stopped-leading", "") },
			OnNewLeader:      func(id string) { event("new-leader", id) },
		},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	elector.Run(ctx)
	event("exit", "")
	return nil
}
