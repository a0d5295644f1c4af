"""What a container sees: its image's files, its volumes, its environment, its network namespace.

A hostPath volume is the node's files; a configMap volume is the ConfigMap's keys; the rest
of the filesystem is the container's own. With hostNetwork the container shares the node's
devices, routes and iptables; otherwise it has an empty namespace of its own.
"""
from __future__ import annotations

import posixpath
from collections.abc import MutableMapping

from .host import HostState, normpath

# Files that matter inside the images the simulator knows (their binaries, by path), by image_identity.
IMAGE_FILES: dict[tuple[str, str], dict[str, str]] = {
    ("flannel", "flannel-cni-plugin"): {"/flannel": "\x7fELF flannel CNI plugin"},
    ("flannel", "flannel"): {"/opt/bin/flanneld": "\x7fELF flanneld", "/opt/bin/install-conf": "\x7fELF install-conf"},
    ("calico", "cni"): {"/opt/cni/bin/install": "\x7fELF calico install", "/opt/cni/bin/calico": "\x7fELF calico",
                        "/opt/cni/bin/calico-ipam": "\x7fELF calico-ipam"},
}
FLANNEL_IMAGES = {"flannel", "flannel-cni-plugin"}
# Commands an image lacks, where the simulator knows it. Flannel's image installs nftables only from v0.25.0:
# flannel images/Dockerfile at v0.24.4 `apk add --no-cache iproute2 ca-certificates iptables strongswan
# iptables-legacy`, at v0.25.0 (and v0.28.9) `apk add --no-cache iproute2 ca-certificates nftables iptables ...`.
FLANNEL_NFT_SINCE = (0, 25, 0)


def absent_commands(image: str) -> frozenset[str]:
    """The commands a container of `image` cannot run (`sh: nft: not found`); empty for images the simulator
    does not know the contents of."""
    if image_identity(image) == ("flannel", "flannel"):
        # no release installs ipset (flannel v0.28.9 images/Dockerfile); calico/node's does (node/Dockerfile)
        return frozenset({"nft", "ipset"} if _release(image_tag(image)) < FLANNEL_NFT_SINCE else {"ipset"})
    return frozenset()


def _release(tag: str) -> tuple[int, ...]:
    """'v0.24.4' -> (0, 24, 4); a tag that is not a release (latest, a digest) counts as the newest."""
    parts = tag.lstrip("v").split("-", 1)[0].split(".")
    return tuple(int(p) for p in parts) if parts and all(p.isdigit() for p in parts) else (999,)
CALICO_IMAGES = {"node", "cni", "kube-controllers", "typha", "pod2daemon-flexvol", "csi", "node-driver-registrar",
                 "apiserver", "flannel-migration-controller", "dikastes", "key-cert-provisioner"}
# Organisations that Rancher's mirrors (rancher/mirrored-<org>-<name>) fold into the image name
_MIRRORED_ORGS = ("flannelcni", "flannel-io", "flannel", "coreos", "calico", "library")


def image_identity(image: str) -> tuple[str, str]:
    """Which project's image this is and which of its images, whatever registry or mirror it comes
    from: ('flannel', 'flannel'), ('flannel', 'flannel-cni-plugin'), ('calico', 'node'), or ('', name)
    for any other image. A kubelet runs whatever the image holds; the simulator only has the name, so
    it reads it the way mirrors spell it: a registry host and projects in front
    (registry.example.com/library/flannel/flannel), Rancher's rancher/mirrored-<org>-<name>
    (rancher/mirrored-flannelcni-flannel-cni-plugin, rancher/mirrored-calico-node), and a flattened
    calico-<name> (registry.example.com/mirror/calico-node)."""
    path = image.split("@", 1)[0]
    parts = path.split("/")
    if ":" in parts[-1]:
        parts[-1] = parts[-1].split(":", 1)[0]
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # the registry host
    name, org = parts[-1], (parts[-2] if len(parts) > 1 else "")
    if name.startswith("mirrored-"):
        rest = name[len("mirrored-"):]
        org, name = next(((o, rest[len(o) + 1:]) for o in _MIRRORED_ORGS if rest.startswith(o + "-")), ("", rest))
    if name.startswith("calico-") and name[len("calico-"):] in CALICO_IMAGES:
        org, name = "calico", name[len("calico-"):]
    if name in FLANNEL_IMAGES:
        return "flannel", name
    if "calico" in org and name in CALICO_IMAGES:
        return "calico", name
    return "", name


def image_tag(image: str) -> str:
    """'quay.io/calico/node:v3.32.1' -> 'v3.32.1'; '' when the image has no tag."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


class ReadOnlyFileSystem(PermissionError):
    """EROFS: a write or unlink under a read-only mount (the shell reports it as the tools do)."""

    def __init__(self, path: str):
        super().__init__(30, "Read-only file system", path)


class MountedFiles(MutableMapping):
    """A container's file namespace: mounts (longest mountPath first) over a private layer."""

    def __init__(self, mounts: list[tuple[str, object, bool]], private: dict[str, str]):
        # mounts: (mountPath, backing, read_only); backing is a (HostState, hostPath) pair or a dict of files
        self._mounts = sorted(mounts, key=lambda m: -len(m[0]))
        self._private = private

    def mount_of(self, path: str):
        """(mountPath, backing, read_only, path relative to the mount) of the mount holding path, or None."""
        path = posixpath.normpath(path)
        for mount_path, backing, read_only in self._mounts:
            if path == mount_path or path.startswith(mount_path.rstrip("/") + "/"):
                rel = path[len(mount_path.rstrip("/")):].lstrip("/")
                if isinstance(backing, tuple):
                    return mount_path, backing, read_only, rel
                return mount_path, backing, True, rel
        return None

    def mount_points(self) -> list[str]:
        return [m[0] for m in self._mounts]

    def _resolve(self, path: str):
        mount = self.mount_of(path)
        if mount is None:
            return self._private, posixpath.normpath(path), False
        _mount_path, backing, read_only, rel = mount
        if isinstance(backing, tuple):
            host, host_path = backing
            return host.files, posixpath.join(host_path, rel) if rel else host_path, read_only
        return backing, rel, read_only

    def __getitem__(self, path: str) -> str:
        files, key, _ = self._resolve(path)
        return files[key]

    def __setitem__(self, path: str, value: str) -> None:
        files, key, read_only = self._resolve(path)
        if read_only:
            raise ReadOnlyFileSystem(path)
        files[key] = value

    def __delitem__(self, path: str) -> None:
        files, key, read_only = self._resolve(path)
        if read_only:
            raise ReadOnlyFileSystem(path)
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
                  "nftables", "ipsets", "_next_ifindex", "programmed_routes")

    def __init__(self, host: HostState, mounted: MountedFiles, host_network: bool, net_admin: bool = True):
        own = HostState(host.node_name, host_ip=host.interfaces["eth0"].addresses[0],
                        mac=host.interfaces["eth0"].mac)
        if not host_network:
            own.interfaces = {k: v for k, v in own.interfaces.items() if k == "lo"}
            own.routes = []
        object.__setattr__(self, "_net", host if host_network else own)
        object.__setattr__(self, "_mounted", mounted)
        self.node_name = host.node_name
        self.directories = set(own.directories)
        self.net_admin = net_admin  # CAP_NET_ADMIN: may change links, addresses, routes, netfilter
        self.absent_commands: frozenset[str] = frozenset()  # binaries the container's image does not hold

    # ---- directories: a mount point exists, and a hostPath mount shows the node's directories
    def is_dir(self, path: str) -> bool:
        path = normpath(path)
        if path == "/" or any(m == path or m.startswith(path + "/") for m in self._mounted.mount_points()):
            return True
        mount = self._mounted.mount_of(path)
        if mount is None:
            return HostState.is_dir(self, path)
        _mount_path, backing, _read_only, rel = mount
        if isinstance(backing, tuple):
            return backing[0].is_dir(posixpath.join(backing[1], rel))
        return any(key.startswith(rel + "/") for key in backing)

    def list_dir(self, path: str) -> list[str]:
        path = normpath(path)
        prefix = path.rstrip("/") + "/"
        mount = self._mounted.mount_of(path)
        if mount is None:
            names = set(HostState.list_dir(self, path))
        else:
            _mount_path, backing, _read_only, rel = mount
            if isinstance(backing, tuple):
                names = set(backing[0].list_dir(posixpath.join(backing[1], rel) if rel else backing[1]))
            else:
                inner = rel + "/" if rel else ""
                names = {key[len(inner):].split("/", 1)[0] for key in backing if key.startswith(inner)}
        names.update(m[len(prefix):].split("/", 1)[0] for m in self._mounted.mount_points() if m.startswith(prefix))
        return sorted(n for n in names if n)

    def make_dir(self, path: str) -> None:
        self._keep_directory(normpath(path), created=True)

    def _keep_directory(self, path: str, created: bool = False) -> None:
        mount = self._mounted.mount_of(path)
        if mount is None:
            HostState._keep_directory(self, path)
            return
        _mount_path, backing, read_only, rel = mount
        if not rel:
            return  # the mount point itself always exists
        if read_only and created:
            raise ReadOnlyFileSystem(path)
        if isinstance(backing, tuple):
            backing[0].make_dir(posixpath.join(backing[1], rel))

    def remove_tree(self, path: str) -> None:
        path = normpath(path)
        mount = self._mounted.mount_of(path)
        if mount is not None and isinstance(mount[1], tuple):
            _mount_path, (host, host_path), read_only, rel = mount
            target = posixpath.join(host_path, rel) if rel else host_path
            if read_only and host.exists(target):
                raise ReadOnlyFileSystem(path)
            if rel:
                host.remove_tree(target)
                return
            for name in host.list_dir(target):  # the contents go; the mount point itself is busy
                host.remove_tree(posixpath.join(target, name))
            raise OSError(16, "Device or resource busy", path)
        HostState.remove_tree(self, path)
        self.directories.difference_update([d for d in self.directories if d == path or d.startswith(path + "/")])

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
    for path, content in IMAGE_FILES.get(image_identity(container.get("image", "")), {}).items():
        private.setdefault(path, content)
    view = ContainerView(host, MountedFiles(mounts, private), bool(pod["spec"].get("hostNetwork")),
                         net_admin=has_net_admin(container))
    view.absent_commands = absent_commands(container.get("image", ""))
    return view


def has_net_admin(container: dict) -> bool:
    """The runtime's default capability set lacks NET_ADMIN; privileged or an added NET_ADMIN
    (or ALL) grants it."""
    security = container.get("securityContext") or {}
    added = {c.upper().removeprefix("CAP_") for c in (security.get("capabilities") or {}).get("add") or []}
    return bool(security.get("privileged")) or bool(added & {"NET_ADMIN", "ALL"})


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
