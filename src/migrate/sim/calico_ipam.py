"""calico-ipam as the simulator models it: pools, block affinities and IPAM blocks as the
crd.projectcalico.org objects Calico keeps them in, so a tool that claims blocks for nodes
(or forgets to) sees the same outcome it would on a cluster."""
from __future__ import annotations

import ipaddress

from .cni import CniError
from .context import SimContext

CALICO_GROUP = "crd.projectcalico.org"


class CalicoIpam:
    """calico-ipam over the crd.projectcalico.org IPPool, BlockAffinity and IPAMBlock objects."""

    def __init__(self, ctx: SimContext):
        self.ctx = ctx
        self.store = ctx.store

    def _type(self, plural: str):
        rtype = self.ctx.registry.lookup(CALICO_GROUP, "v1", plural)
        if rtype is None:
            raise CniError(f'plugin type="calico" failed (add): the server could not find the requested resource '
                           f"(get {plural}.{CALICO_GROUP})")
        return rtype

    @staticmethod
    def block_name(cidr: str) -> str:
        return cidr.replace(".", "-").replace("/", "-")

    def pools_for(self, node_name: str, use: str = "Workload") -> list[dict]:
        """The enabled IPv4 pools selecting the node and allowing `use` (Workload: pods; Tunnel: tunnel
        addresses): an IPPool's allowedUses, both when unset (libcalico-go ipam AutoAssign IntendedUse;
        node/pkg/allocateip/allocateip.go determineEnabledPoolCIDRs)."""
        node = self.store.get(self.ctx.nodes, None, node_name)
        return [p for p in self.store.items(self._type("ippools"))
                if not p["spec"].get("disabled") and ":" not in p["spec"].get("cidr", ":")
                and use in (p["spec"].get("allowedUses") or ("Workload", "Tunnel"))
                and calico_selector_matches(p["spec"].get("nodeSelector", "all()"), node["metadata"].get("labels") or {})]

    def allocate(self, node_name: str, handle: str, *, pools: list[dict] | None = None,
                 attrs: dict | None = None) -> tuple[str, tuple[str, str]]:
        """AutoAssign one IPv4 address: from a block affine to the node inside the usable pools,
        else from a newly claimed free block of one of those pools."""
        pools = self.pools_for(node_name) if pools is None else pools
        if not pools:
            raise CniError(f'plugin type="calico" failed (add): no configured Calico pools for node {node_name}')
        networks = [ipaddress.ip_network(p["spec"]["cidr"]) for p in pools]
        affinities = self.store.items(self._type("blockaffinities"))
        for affinity in affinities:
            spec = affinity["spec"]
            if spec.get("node") != node_name or spec.get("state") != "confirmed" or spec.get("deleted") == "true":
                continue
            cidr = ipaddress.ip_network(spec["cidr"])
            if not any(cidr.version == n.version and cidr.subnet_of(n) for n in networks):
                continue  # a block whose pool is gone or disabled takes no new assignments
            block = self._ensure_block(spec["cidr"], node_name)
            ip = self._take(block, handle, attrs)
            if ip:
                return ip, (block["metadata"]["name"], ip)
        occupied = [ipaddress.ip_network(b["spec"]["cidr"]) for b in self.store.items(self._type("ipamblocks"))]
        occupied += [ipaddress.ip_network(a["spec"]["cidr"]) for a in affinities]
        for pool in pools:
            for candidate in _blocks_from(ipaddress.ip_network(pool["spec"]["cidr"]),
                                          int(pool["spec"].get("blockSize", 26)), node_name):
                if any(candidate.overlaps(o) for o in occupied):
                    continue
                self._claim(str(candidate), node_name)
                block = self._ensure_block(str(candidate), node_name)
                ip = self._take(block, handle, attrs)
                if ip:
                    return ip, (block["metadata"]["name"], ip)
        raise CniError('plugin type="calico" failed (add): failed to request IPv4 addresses: no more free affine '
                       "blocks and no free blocks in any pool")

    def assignment(self, ip: str) -> dict | None:
        """The allocation attribute ({handle_id, secondary}) of an address, or None when unassigned."""
        addr = ipaddress.ip_address(ip)
        for block in self.store.items(self._type("ipamblocks")):
            network = ipaddress.ip_network(block["spec"]["cidr"])
            if addr in network:
                index = block["spec"]["allocations"][int(addr) - int(network.network_address)]
                return None if index is None else block["spec"]["attributes"][index]
        return None

    def release_handle(self, handle: str) -> None:
        """ReleaseByHandle: free every address allocated under a handle."""
        rtype = self._type("ipamblocks")
        for block in self.store.items(rtype):
            spec = block["spec"]
            mine = [o for o, index in enumerate(spec["allocations"])
                    if index is not None and spec["attributes"][index].get("handle_id") == handle]
            if not mine:
                continue

            def free(obj: dict) -> None:
                # chosen again from the block this write finds (a conflict's retry meets a newer one)
                s = obj["spec"]
                for ordinal, index in enumerate(s["allocations"]):
                    if index is not None and s["attributes"][index].get("handle_id") == handle:
                        s["allocations"][ordinal] = None
                        s["unallocated"].append(ordinal)
            self.store.mutate(rtype, None, block["metadata"]["name"], free)

    def _claim(self, cidr: str, node_name: str) -> None:
        self.store.create(self._type("blockaffinities"), {
            "apiVersion": f"{CALICO_GROUP}/v1", "kind": "BlockAffinity",
            "metadata": {"name": f"{node_name}-{self.block_name(cidr)}"},
            "spec": {"cidr": cidr, "node": node_name, "state": "confirmed", "deleted": "false", "type": "host"}})

    def _ensure_block(self, cidr: str, node_name: str) -> dict:
        rtype = self._type("ipamblocks")
        name = self.block_name(cidr)
        block = self.store.find(rtype, None, name)
        if block is None:
            size = ipaddress.ip_network(cidr).num_addresses
            block = self.store.create(rtype, {
                "apiVersion": f"{CALICO_GROUP}/v1", "kind": "IPAMBlock", "metadata": {"name": name},
                "spec": {"cidr": cidr, "affinity": f"host:{node_name}", "allocations": [None] * size,
                         "unallocated": list(range(size)), "attributes": [], "strictAffinity": False,
                         "deleted": False}})
        return block

    def _take(self, block: dict, handle: str, attrs: dict | None = None) -> str | None:
        spec = block["spec"]
        if not spec.get("unallocated"):
            return None
        network = ipaddress.ip_network(spec["cidr"])
        taken: list[int] = []

        def take(obj: dict) -> None:
            # The address is chosen from the block as this write finds it: a write that meets a newer block
            # (409 Conflict) chooses again from that one (ipam.go assignFromExistingBlock, retried on conflict).
            taken.clear()
            s = obj["spec"]
            if not s.get("unallocated"):
                return
            ordinal = s["unallocated"][0]
            s["unallocated"] = [o for o in s["unallocated"] if o != ordinal]
            s["attributes"].append({"handle_id": handle, "secondary": dict(attrs or {})})
            s["allocations"][ordinal] = len(s["attributes"]) - 1
            taken.append(ordinal)
        self.store.mutate(self._type("ipamblocks"), None, block["metadata"]["name"], take)
        return str(network.network_address + taken[0]) if taken else None

    def release(self, block_name: str, ip: str) -> None:
        rtype = self.ctx.registry.lookup(CALICO_GROUP, "v1", "ipamblocks")
        block = self.store.find(rtype, None, block_name) if rtype else None
        if block is None:
            return
        ordinal = int(ipaddress.ip_address(ip)) - int(ipaddress.ip_network(block["spec"]["cidr"]).network_address)

        def free(obj: dict) -> None:
            s = obj["spec"]
            if s["allocations"][ordinal] is not None:
                s["allocations"][ordinal] = None
                s["unallocated"].append(ordinal)
        self.store.mutate(rtype, None, block_name, free)


def _blocks_from(pool: ipaddress.IPv4Network, block_size: int, node_name: str):
    """randomBlockGenerator: the pool's blocks walked from a starting block chosen by a generator
    seeded with the FNV-1 hash of the host name, wrapping round (so nodes spread over the pool
    instead of all taking its first block). The start is derived from the same seed, not Go's
    exact math/rand sequence."""
    count = 1 << max(0, block_size - pool.prefixlen)
    size = 1 << (32 - block_size)
    seed = 0x811C9DC5
    for byte in node_name.encode():
        seed = ((seed * 0x01000193) & 0xFFFFFFFF) ^ byte
    start = seed % count
    base = int(pool.network_address)
    for step in range(count):
        yield ipaddress.ip_network((base + ((start + step) % count) * size, block_size))


def calico_selector_matches(selector: str, labels: dict) -> bool:
    """The subset of Calico's selector language pools use: all(), has(k), !has(k), k == 'v', k != 'v', &&."""
    selector = (selector or "").strip()
    if selector in ("", "all()"):
        return True
    for term in (t.strip() for t in selector.split("&&")):
        if term.startswith("!has(") and term.endswith(")"):
            if term[5:-1].strip() in labels:
                return False
        elif term.startswith("has(") and term.endswith(")"):
            if term[4:-1].strip() not in labels:
                return False
        elif "==" in term:
            key, value = (s.strip() for s in term.split("==", 1))
            if labels.get(key) != value.strip("'\""):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value.strip("'\""):
                return False
        else:
            return False
    return True
