package main

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

const typedWriteManager = "edge-test-typedwrite"

type writeLine struct {
	Type            string `json:"type"` // "write"
	Op              string `json:"op"`   // create, update, patch, apply, update-status, delete
	Resource        string `json:"resource"`
	Name            string `json:"name"`
	ResourceVersion string `json:"resourceVersion"` // of the object the server returned ("" for delete)
	Error           string `json:"error,omitempty"`
}

// cmdTypedWrite makes the writes a component makes through a typed clientset (protobuf bodies with
// the default --content-type): a ConfigMap created, updated, strategic-merge patched and
// server-side applied; a Lease created and renewed; a Service created and its status subresource
// updated (a condition, which needs no kubelet or load balancer); a second ConfigMap created and
// deleted. Each write prints the resourceVersion the server answered; the first failure stops it.
func cmdTypedWrite(ctx context.Context, _ dynamic.NamespaceableResourceInterface, o *options) error {
	client, err := kubernetes.NewForConfig(o.typedConfig())
	if err != nil {
		return err
	}
	ns, name := o.namespace, o.name
	cms := client.CoreV1().ConfigMaps(ns)
	leases := client.CoordinationV1().Leases(ns)
	services := client.CoreV1().Services(ns)

	var rv string // resourceVersion of the last answer, for the report
	step := func(op, resource, objName string, write func() (metav1.Object, error)) error {
		obj, err := write()
		line := writeLine{Type: "write", Op: op, Resource: resource, Name: objName}
		if err != nil {
			line.Error = err.Error()
		} else if obj != nil {
			line.ResourceVersion = obj.GetResourceVersion()
		}
		emit(line)
		rv = line.ResourceVersion
		return err
	}

	var cm *corev1.ConfigMap
	var lease *coordinationv1.Lease
	var svc *corev1.Service
	steps := []func() error{
		func() error {
			return step("create", "configmaps", name, func() (metav1.Object, error) {
				cm, err = cms.Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"written-by": "typedwrite"}},
					Data:       map[string]string{"step": "create"},
				}, metav1.CreateOptions{FieldManager: typedWriteManager})
				return cm, err
			})
		},
		func() error {
			return step("update", "configmaps", name, func() (metav1.Object, error) {
				cm.Data["step"] = "update"
				cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: typedWriteManager})
				return cm, err
			})
		},
		func() error {
			return step("patch", "configmaps", name, func() (metav1.Object, error) {
				cm, err = cms.Patch(ctx, name, types.StrategicMergePatchType, []byte(`{"data":{"patched":"strategic"}}`),
					metav1.PatchOptions{FieldManager: typedWriteManager})
				return cm, err
			})
		},
		func() error {
			return step("apply", "configmaps", name, func() (metav1.Object, error) {
				cm, err = cms.Apply(ctx, corev1apply.ConfigMap(name, ns).WithData(map[string]string{"applied": "server-side"}),
					metav1.ApplyOptions{FieldManager: typedWriteManager + "-apply", Force: true})
				return cm, err
			})
		},
		func() error {
			return step("create", "leases", name, func() (metav1.Object, error) {
				holder, seconds := "typedwrite", int32(15)
				lease, err = leases.Create(ctx, &coordinationv1.Lease{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds,
						AcquireTime: &metav1.MicroTime{Time: time.Now()}, RenewTime: &metav1.MicroTime{Time: time.Now()}},
				}, metav1.CreateOptions{FieldManager: typedWriteManager})
				return lease, err
			})
		},
		func() error {
			return step("update", "leases", name, func() (metav1.Object, error) {
				lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
				lease, err = leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: typedWriteManager})
				return lease, err
			})
		},
		func() error {
			return step("create", "services", name, func() (metav1.Object, error) {
				svc, err = services.Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
						Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
				}, metav1.CreateOptions{FieldManager: typedWriteManager})
				return svc, err
			})
		},
		func() error {
			return step("update-status", "services", name, func() (metav1.Object, error) {
				svc.Status.Conditions = append(svc.Status.Conditions, metav1.Condition{
					Type: "example.com/Relayed", Status: metav1.ConditionTrue, Reason: "ThroughTheEdge",
					Message: "written by a typed client", LastTransitionTime: metav1.Now(), ObservedGeneration: svc.Generation,
				})
				svc, err = services.UpdateStatus(ctx, svc, metav1.UpdateOptions{FieldManager: typedWriteManager})
				return svc, err
			})
		},
		func() error {
			return step("create", "configmaps", name+"-gone", func() (metav1.Object, error) {
				return cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name + "-gone"}}, metav1.CreateOptions{})
			})
		},
		func() error {
			return step("delete", "configmaps", name+"-gone", func() (metav1.Object, error) {
				return nil, cms.Delete(ctx, name+"-gone", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
			})
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}
