"""What the cloud's network (the VPC) does to packets between nodes, beyond routing them: each instance's
source/destination check and the security group's protocol rules. Scenario data (`cluster.srcDstCheck`,
`nodeGroups[].srcDstCheck`, `cluster.securityGroup`), read by the data-plane oracle and the BGP model."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass
class CloudSettings:
    # The source/destination check of the instances in a subnet: on, the VPC drops a packet an instance sends
    # from an address that is not its own, or that arrives for an address that is not its own (AWS EC2
    # SourceDestCheck; JD Cloud's VPC does the same unless the NIC is allowed to forward). Pod traffic routed
    # natively between nodes carries pod addresses and is dropped; encapsulated traffic (node to node) passes.
    src_dst_check: bool = False
    src_dst_check_by_subnet: dict[str, bool] = field(default_factory=dict)
    # The security group between the nodes: IP protocol 4 (IPIP) and TCP 179 (BGP) allowed or not.
    allow_ipip: bool = True
    allow_bgp: bool = True

    def checks_source(self, node_address: str) -> bool:
        """Whether the source/destination check is on for the instance with this VPC address."""
        address = ipaddress.ip_address(node_address.split("/")[0])
        for subnet, on in self.src_dst_check_by_subnet.items():
            if address in ipaddress.ip_network(subnet):
                return on
        return self.src_dst_check
