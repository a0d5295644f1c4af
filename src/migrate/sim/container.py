"""What a container sees: its image's files, its volumes, its environment, its network namespace.

A hostPath volume is the node's files; a configMap volume is the ConfigMap's keys; the rest
of the filesystem is the container's own. With hostNetwork the container shares the node's
devices, routes and iptables; otherwise it has an empty namespace of its own.
"""
from __future__ import annotations

import posixpath
from collections.abc import MutableMapping

from .host import HostState

# Files that matter inside the images the simulator knows (their binaries, by path).
IMAGE_FILES: dict[str, dict[str, str]] = {
    "flannel-cni-plugin": {"/flannel": "\x7fELF flannel CNI plugin"},
    "flannel": {"/opt/bin/flanneld": "\x7fELF flanneld", "/opt/bin/install-conf": "\x7fELF install-conf"},
    "cni": {"/opt/cni/bin/install": "\x7fELF calico install", "/opt/cni/bin/calico": "\x7fELF calico",
            "/opt/cni/bin/calico-ipam": "\x7fELF calico-ipam"},
}


def image_name(image: str) -> str:
    """'ghcr.io/flannel-io/flannel:v0.28.9' -> 'flannel'; 'docker.io/calico/cni:v3.32.1' -> 'cni'."""
    path = image.split("@", 1)[0]
    last = path.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def image_repository(image: str) -> str:
    path = image.split("@", 1)[0]
    if ":" in path.rsplit("/", 1)[-1]:
        path = path.rsplit(":", 1)[0]
    return path


class MountedFiles(MutableMapping):
    """A container's file namespace: mounts (longest mountPath first) over a private layer."""

    def __init__(self, mounts: list[tuple[str, object, bool]], private: dict[str, str]):
        # mounts: (mountPath, backing, read_only); backing is a (HostState, hostPath) pair or a dict of files
        self._mounts = sorted(mounts, key=lambda m: -len(m[0]))
        self._private = private

    def _resolve(self, path: str):
        path = posixpath.normpath(path)
        for mount_path, backing, read_only in self._mounts:
            if path == mount_path or path.startswith(mount_path.rstrip("/") + "/"):
                rel = path[len(mount_path.rstrip("/")):].lstrip("/")
                if isinstance(backing, tuple):
                    host, host_path = backing
                    return host.files, posixpath.join(host_path, rel) if rel else host_path, read_only
                return backing, rel, True
        return self._private, path, False

    def __getitem__(self, path: str) -> str:
        files, key, _ = self._resolve(path)
        return files[key]

    def __setitem__(self, path: str, value: str) -> None:
        files, key, read_only = self._resolve(path)
        if read_only:
            raise PermissionError(f"{path}: Read-only file system")
        files[key] = value

    def __delitem__(self, path: str) -> None:
        files, key, read_only = self._resolve(path)
        if read_only:
            raise PermissionError(f"{path}: Read-only file system")
        del files[key]

    def __iter__(self):
        seen = set()
        for path in list(self._private):
            if self._resolve(path)[0] is self._private:
                seen.add(path)
                yield path
        for mount_path, backing, _ in self._mounts:
            if isinstance(backing, tuple):
                host, host_path = backing
                prefix = host_path.rstrip("/") + "/"
                names = [k for k in list(host.files) if k.startswith(prefix) or k == host_path]
                candidates = (posixpath.join(mount_path, k[len(prefix):]) if k != host_path else mount_path
                              for k in names)
            else:
                candidates = (posixpath.join(mount_path, k) for k in backing)
            for path in candidates:
                if path not in seen and self._resolve(path)[1] is not None:
                    seen.add(path)
                    yield path

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, path) -> bool:
        files, key, _ = self._resolve(path)
        return key in files


class ContainerView(HostState):
    """The host as one container sees it: its files through its mounts, and either the node's
    network namespace (hostNetwork) or an empty one of its own."""

    _NET_STATE = ("interfaces", "routes", "iptables", "ip6tables", "iptables_policies", "ip6tables_policies",
                  "nftables", "_next_ifindex")

    def __init__(self, host: HostState, mounted: MountedFiles, host_network: bool):
        own = HostState(host.node_name, host_ip=host.interfaces["eth0"].addresses[0],
                        mac=host.interfaces["eth0"].mac)
        if not host_network:
            own.interfaces = {k: v for k, v in own.interfaces.items() if k == "lo"}
            own.routes = []
        object.__setattr__(self, "_net", host if host_network else own)
        object.__setattr__(self, "_mounted", mounted)
        self.node_name = host.node_name
        self.directories = set(own.directories)

    def __getattribute__(self, name):
        if name in ContainerView._NET_STATE:
            return getattr(object.__getattribute__(self, "_net"), name)
        if name == "files":
            return object.__getattribute__(self, "_mounted")
        return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        if name in ContainerView._NET_STATE:
            setattr(object.__getattribute__(self, "_net"), name, value)
        elif name == "files":
            mounted = object.__getattribute__(self, "_mounted")
            if value is not mounted:  # a whole-map rewrite (e.g. rm -r): apply it as changes
                for path in [p for p in mounted if p not in value]:
                    try:
                        del mounted[path]
                    except (KeyError, PermissionError):
                        pass
                for path, content in value.items():
                    if path not in mounted or mounted[path] != content:
                        mounted[path] = content
        else:
            object.__setattr__(self, name, value)


def container_view(host: HostState, pod: dict, container: dict, configmaps: dict[str, dict],
                   private: dict[str, str]) -> HostState:
    """What `container` of `pod` can touch on `host`."""
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        if volume is None:
            continue
        path = posixpath.normpath(mount["mountPath"])
        read_only = bool(mount.get("readOnly"))
        if "hostPath" in volume:
            mounts.append((path, (host, volume["hostPath"]["path"]), read_only))
        elif "configMap" in volume:
            data = dict((configmaps.get(volume["configMap"]["name"]) or {}).get("data") or {})
            items = volume["configMap"].get("items")
            if items:
                data = {i["path"]: data[i["key"]] for i in items if i["key"] in data}
            mounts.append((path, data, True))
        else:  # emptyDir, secret, projected: private to the pod, empty here
            mounts.append((path, {}, read_only))
    for path, content in IMAGE_FILES.get(image_name(container.get("image", "")), {}).items():
        private.setdefault(path, content)
    return ContainerView(host, MountedFiles(mounts, private), bool(pod["spec"].get("hostNetwork")))


def resolve_env(pod: dict, container: dict, configmaps: dict[str, dict], node_ip: str) -> dict[str, str]:
    """Container environment as the kubelet builds it (values, configMap keys, field refs)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            env.update((configmaps.get(ref["name"]) or {}).get("data") or {})
    fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
              "spec.nodeName": pod["spec"].get("nodeName", ""), "status.hostIP": node_ip,
              "status.podIP": (pod.get("status") or {}).get("podIP") or "",
              "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "")}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source = item.get("valueFrom") or {}
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            value = ((configmaps.get(ref["name"]) or {}).get("data") or {}).get(ref["key"])
            if value is not None:
                env[item["name"]] = value
        elif "fieldRef" in source:
            env[item["name"]] = fields.get(source["fieldRef"].get("fieldPath", ""), "")
    return env
