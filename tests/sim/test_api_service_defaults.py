"""Services as kube-apiserver v1.26.5 stores them: SetDefaults_Service (pkg/apis/core/v1/defaults.go) and the
allocators of the service registry (pkg/registry/core/service/storage/storage.go and alloc.go:
initIPFamilyFields, allocClusterIPs, initNodePorts; beginUpdate's patchAllocatedValues)."""
import json

import pytest


def _service(name, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def create(http):
    def call(name, **spec):
        status, _, body = http("POST", "/api/v1/namespaces/default/services", _service(name, **spec))
        assert status == 201, body
        return json.loads(body)
    return call


def test_a_cluster_ip_service_is_single_stack_ipv4_with_its_cluster_ips(create):
    spec = create("web", selector={"app": "web"}, ports=[{"port": 80}])["spec"]
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert {k: spec[k] for k in ("type", "sessionAffinity", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy")} \
        == {"type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"}


def test_a_service_port_defaults_to_tcp_and_its_target_port_to_the_port(create):
    assert create("web", selector={"app": "web"}, ports=[{"port": 80}])["spec"]["ports"] == [
        {"port": 80, "protocol": "TCP", "targetPort": 80}]


def test_a_headless_service_has_none_in_its_cluster_ips(create):
    spec = create("db", clusterIP="None", selector={"app": "db"}, ports=[{"port": 5432}])["spec"]
    assert (spec["clusterIP"], spec["clusterIPs"], spec["ipFamilies"], spec["ipFamilyPolicy"]) == (
        "None", ["None"], ["IPv4"], "SingleStack")


def test_a_headless_service_without_a_selector_requires_dual_stack(create):
    spec = create("peers", clusterIP="None", ports=[{"port": 80}])["spec"]
    assert (spec["ipFamilyPolicy"], spec["ipFamilies"]) == ("RequireDualStack", ["IPv4", "IPv6"])


def test_an_external_name_service_gets_no_cluster_ip_and_no_ip_families(create):
    spec = create("ext", type="ExternalName", externalName="example.com")["spec"]
    assert spec == {"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"}


def test_a_node_port_service_gets_a_node_port_and_external_traffic_policy_cluster(create):
    spec = create("np", type="NodePort", selector={"app": "web"}, ports=[{"port": 80}])["spec"]
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767
    assert spec["externalTrafficPolicy"] == "Cluster"


def test_a_load_balancer_service_allocates_load_balancer_node_ports(create):
    spec = create("lb", type="LoadBalancer", selector={"app": "web"}, ports=[{"port": 80}])["spec"]
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767


def test_a_new_service_has_an_empty_load_balancer_status(create):
    assert create("web", selector={"app": "web"}, ports=[{"port": 80}])["status"] == {"loadBalancer": {}}


def test_an_update_that_leaves_out_the_allocated_fields_keeps_them(create, http):
    created = create("np", type="NodePort", selector={"app": "web"}, ports=[{"port": 80}])
    status, _, body = http("PUT", "/api/v1/namespaces/default/services/np",
                           _service("np", type="NodePort", selector={"app": "web"}, ports=[{"port": 80}]))
    assert status == 200, body
    spec = json.loads(body)["spec"]
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "ports"):
        assert spec[key] == created["spec"][key]


def test_an_update_may_not_change_the_cluster_ip(create, http):
    create("web", clusterIP="10.96.0.50", selector={"app": "web"}, ports=[{"port": 80}])
    status, _, body = http("PUT", "/api/v1/namespaces/default/services/web",
                           _service("web", clusterIP="10.96.0.51", selector={"app": "web"}, ports=[{"port": 80}]))
    assert status == 422
    assert json.loads(body)["message"] == ('Service "web" is invalid: spec.clusterIPs[0]: Invalid value: '
                                           '[]string{"10.96.0.51"}: may not change once set')
