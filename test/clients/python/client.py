#!/usr/bin/env python3
"""The python `kubernetes` in-cluster client used by the e2e tests.

It loads in-cluster config the way a pod does (KUBERNETES_SERVICE_HOST/PORT plus the
service-account token and CA), only with the folder given by EMS_SA_DIR instead of the fixed
path, and prints one JSON object per line so the tests can assert on what the server sent.

Usage:
  client.py list  <namespace> [--label-selector S]
  client.py get   <namespace> <name>
  client.py watch <namespace> [--resource-version RV] [--timeout SECONDS] [--max-events N]
  client.py informer <namespace>   (ConfigMaps; "dump" on stdin prints the store; EOF stops it)
Exit codes: 0 ok, 3 API error (a {"type":"error"} line is printed first).
"""
import argparse
import json
import os
import sys
import threading
import time

from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from kubernetes.config.incluster_config import InClusterConfigLoader


_emit_lock = threading.Lock()


def emit(obj):
    with _emit_lock:
        print(json.dumps(obj), flush=True)


def informer(v1, namespace):
    """What python users write for an informer (the library has none): list, then watch from the
    list's version with watch.Watch (which re-watches from the last event's version whenever the
    server ends the stream), re-list on 410. Handler calls are printed like the Go client's."""
    store = {}
    lock = threading.Lock()

    def relist():
        result = v1.list_namespaced_config_map(namespace)
        fresh = {i.metadata.name: i.metadata.resource_version for i in result.items}
        with lock:
            for name, rv in fresh.items():
                if store.get(name) != rv:
                    emit({"type": "add" if name not in store else "update", "name": name, "resourceVersion": rv})
            for name in [n for n in store if n not in fresh]:
                emit({"type": "delete", "name": name, "resourceVersion": store[name]})
            store.clear()
            store.update(fresh)
        return result.metadata.resource_version

    def run():
        rv = None
        while True:
            try:
                if rv is None:
                    rv = relist()
                for event in watch.Watch().stream(v1.list_namespaced_config_map, namespace, resource_version=rv):
                    obj = event["object"]
                    name, obj_rv, kind = obj.metadata.name, obj.metadata.resource_version, event["type"]
                    rv = obj_rv
                    with lock:
                        if kind == "DELETED":
                            store.pop(name, None)
                            emit({"type": "delete", "name": name, "resourceVersion": obj_rv})
                        elif kind in ("ADDED", "MODIFIED"):
                            emit({"type": "add" if name not in store else "update", "name": name, "resourceVersion": obj_rv})
                            store[name] = obj_rv
            except ApiException as err:
                emit({"type": "watch-error", "code": err.status})
                if err.status == 410:
                    rv = None
                time.sleep(1)
            except Exception as err:  # transport errors: try again from the same version, like a reflector
                emit({"type": "watch-error", "error": str(err)[:200]})
                time.sleep(1)

    threading.Thread(target=run, daemon=True).start()
    for line in sys.stdin:
        if line.strip() == "dump":
            with lock:
                items = sorted(f"{name}@{rv}" for name, rv in store.items())
            emit({"type": "store", "items": items})


def load():
    sa_dir = os.environ["EMS_SA_DIR"]
    InClusterConfigLoader(
        token_filename=os.path.join(sa_dir, "token"),
        cert_filename=os.path.join(sa_dir, "ca.crt"),
    ).load_and_set()
    api = client.ApiClient()
    api.user_agent = "edge-metaserver-test-python"
    return client.CoreV1Api(api)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["list", "get", "watch", "informer"])
    parser.add_argument("namespace")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--label-selector", default=None)
    parser.add_argument("--resource-version", default=None)
    parser.add_argument("--timeout", type=int, default=30)
    parser.add_argument("--max-events", type=int, default=0)
    args = parser.parse_args()
    v1 = load()
    try:
        if args.command == "list":
            kwargs = {"label_selector": args.label_selector} if args.label_selector else {}
            result, _, headers = v1.list_namespaced_config_map_with_http_info(args.namespace, **kwargs)
            emit({"type": "list", "resourceVersion": result.metadata.resource_version,
                  "names": [i.metadata.name for i in result.items], "warning": headers.get("Warning")})
        elif args.command == "informer":
            informer(v1, args.namespace)
        elif args.command == "get":
            cm = v1.read_namespaced_config_map(args.name, args.namespace)
            emit({"type": "object", "name": cm.metadata.name,
                  "resourceVersion": cm.metadata.resource_version, "data": cm.data})
        else:
            w = watch.Watch()
            kwargs = {"timeout_seconds": args.timeout}
            if args.resource_version:
                kwargs["resource_version"] = args.resource_version
            count = 0
            for event in w.stream(v1.list_namespaced_config_map, args.namespace, **kwargs):
                obj = event["object"]
                emit({"type": event["type"], "name": obj.metadata.name,
                      "resourceVersion": obj.metadata.resource_version})
                count += 1
                if args.max_events and count >= args.max_events:
                    w.stop()
                    break
            emit({"type": "closed"})
    except ApiException as err:
        emit({"type": "error", "code": err.status, "reason": err.reason, "body": err.body and err.body.decode() if isinstance(err.body, bytes) else err.body})
        sys.exit(3)


if __name__ == "__main__":
    main()
