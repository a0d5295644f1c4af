"""CEL validation rules meet the simulated server's Kubernetes version: a rule calling a function
the version's CEL environment does not declare makes the CRD 422 (messages as kube-apiserver
v1.26.5 gives them); rules are never evaluated."""
import copy

import pytest

from crd_helpers import CRDS, GADGETS, gadget, gadget_crd, request
from migrate.sim.cluster import running_cluster
from migrate.sim.scenario import load_scenario

CALICO_MANIFEST = "calico-v3.32.1/flannel-migration/calico.yaml"


def served_at(version: str):
    scenario = load_scenario("small")
    scenario.kubernetes_version = version
    return running_cluster(scenario)


@pytest.fixture
def served_126():
    with served_at("v1.26.5") as running:
        yield running


def crd_with_rule(rule: str, message: str | None = None) -> dict:
    crd = gadget_crd()
    validation = {"rule": rule, **({"message": message} if message else {})}
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["cidr"][
        "x-kubernetes-validations"] = [validation]
    return crd


RULE_FIELD = ("spec.validation.openAPIV3Schema.properties[spec].properties[cidr].x-kubernetes-validations[0].rule")


def test_v1_26_refuses_a_crd_whose_rule_calls_iscidr(served_126):
    answer = request(served_126, "POST", CRDS, crd_with_rule("isCIDR(self)", "must be a CIDR"))
    assert answer.status == 422
    assert answer.message == (
        'CustomResourceDefinition.apiextensions.k8s.io "gadgets.example.com" is invalid: ' + RULE_FIELD +
        ': Invalid value: apiextensions.ValidationRule{Rule:"isCIDR(self)", Message:"must be a CIDR"}: '
        "compilation failed: ERROR: <input>:1:7: undeclared reference to 'isCIDR' (in container '')\n"
        " | isCIDR(self)\n"
        " | ......^")
    assert answer.json["details"]["causes"][0]["field"] == RULE_FIELD


def test_each_undeclared_call_is_reported_where_cel_go_puts_it(served_126):
    answer = request(served_126, "POST", CRDS, crd_with_rule("self.size() > 1 && ip(self).family() == 4"))
    assert "ERROR: <input>:1:22: undeclared reference to 'ip' (in container '')" in answer.message
    assert "ERROR: <input>:1:35: undeclared reference to 'family' (in container '')" in answer.message


def test_an_undeclared_namespace_is_reported_at_its_name(served_126):
    answer = request(served_126, "POST", CRDS, crd_with_rule("sets.contains([1], [1])"))
    assert "ERROR: <input>:1:1: undeclared reference to 'sets' (in container '')\n | sets.contains([1], [1])\n | ^" \
        in answer.message


def test_v1_26_accepts_rules_of_its_own_libraries(served_126):
    rule = "self.matches('^[0-9.]+/[0-9]+$') && self.split('/').size() == 2 && !isURL(self)"
    assert request(served_126, "POST", CRDS, crd_with_rule(rule)).status == 201


def test_a_function_name_inside_a_string_literal_is_no_call(served_126):
    assert request(served_126, "POST", CRDS, crd_with_rule("self != 'isCIDR(x)'")).status == 201


@pytest.mark.parametrize("version, accepted", [("v1.30.8", False), ("v1.31.4", True)])
def test_the_network_library_serves_new_crds_from_1_31(version, accepted):
    # base.go introduces IP and CIDR at 1.30; new expressions compile for the version before the server's
    with served_at(version) as running:
        answer = request(running, "POST", CRDS, crd_with_rule("isCIDR(self) && cidr(self).prefixLength() < 32"))
        assert (answer.status == 201) is accepted


@pytest.mark.parametrize("version, accepted", [("v1.28.9", False), ("v1.29.4", True)])
def test_the_quantity_library_serves_new_crds_from_1_29(version, accepted):
    with served_at(version) as running:
        answer = request(running, "POST", CRDS, crd_with_rule("quantity(self).isInteger()"))
        assert (answer.status == 201) is accepted


def test_a_rule_with_line_breaks_needs_a_message(served_126):
    answer = request(served_126, "POST", CRDS, crd_with_rule("self != 'a' ||\n  self != 'b'"))
    assert answer.status == 422
    assert answer.message.endswith("x-kubernetes-validations[0].message: Required value: message must be specified "
                                   "if rule contains line breaks")


def test_rules_are_not_evaluated(served_small):
    assert request(served_small, "POST", CRDS, crd_with_rule("self.startsWith('192.')")).status == 201
    served_small.cluster.advance(1)
    assert request(served_small, "POST", GADGETS, gadget({"name": "abc", "cidr": "10.0.0.0/8"})).status == 201


def test_an_update_that_adds_an_undeclared_call_is_refused(served_126):
    assert request(served_126, "POST", CRDS, gadget_crd()).status == 201
    crd = request(served_126, "GET", CRDS + "/gadgets.example.com").json
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["cidr"][
        "x-kubernetes-validations"] = [{"rule": "isCIDR(self)"}]
    assert request(served_126, "PUT", CRDS + "/gadgets.example.com", crd).status == 422


def _calico_objects(upstream_file):
    import yaml
    return [d for d in yaml.safe_load_all(upstream_file(CALICO_MANIFEST).read_text()) if d]


def test_calicos_manifest_on_v1_26_fails_on_the_crd_that_uses_iscidr(served_126, upstream_file):
    from kubernetes import utils
    from kubernetes.utils import FailToCreateError

    api = served_126.api_client()
    refused = []
    for obj in _calico_objects(upstream_file):
        try:
            utils.create_from_dict(api, copy.deepcopy(obj))
        except FailToCreateError as exc:
            refused.append((obj["metadata"]["name"], exc.api_exceptions[0].status, exc.api_exceptions[0].body))
    assert [(name, status) for name, status, _ in refused] == [
        ("clusternetworkpolicies.policy.networking.k8s.io", 422)]
    assert "undeclared reference to 'isCIDR' (in container '')" in refused[0][2]
    assert "x-kubernetes-validations[0].rule: Invalid value: apiextensions.ValidationRule{Rule:\\\"isCIDR(self)\\\", " \
           "Message:\\\"Invalid CIDR format provided\\\"}" in refused[0][2]


def test_v1_26_drops_the_rule_fields_it_does_not_know_with_a_warning(served_126, upstream_file):
    ippools = next(o for o in _calico_objects(upstream_file) if o["metadata"]["name"] == "ippools.crd.projectcalico.org")
    answer = request(served_126, "POST", CRDS, ippools)
    assert answer.status == 201
    assert '299 - "unknown field \\"spec.versions[0].schema.openAPIV3Schema.properties.spec.x-kubernetes-validations' \
           '[0].reason\\""' in answer.warnings
    rules = answer.json["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "x-kubernetes-validations"]
    assert all("reason" not in rule for rule in rules)
    # kubectl asks for Strict: the decoder refuses before the name could clash with the one just made
    strict = request(served_126, "POST", CRDS + "?fieldValidation=Strict&dryRun=All", ippools)
    assert strict.status == 400
    assert strict.message.startswith('CustomResourceDefinition in version "v1" cannot be handled as a '
                                     'CustomResourceDefinition: strict decoding error: unknown field "spec.versions[0]')


@pytest.mark.parametrize("version", ["v1.31.4", "v1.34.2"])
def test_calicos_manifest_applies_whole_from_v1_31(version, upstream_file):
    from kubernetes import utils

    with served_at(version) as running:
        api = running.api_client()
        for obj in _calico_objects(upstream_file):
            utils.create_from_dict(api, copy.deepcopy(obj))
        running.cluster.advance(1)
        crds = request(running, "GET", CRDS).json["items"]
        assert "clusternetworkpolicies.policy.networking.k8s.io" in {c["metadata"]["name"] for c in crds}
        ippools = next(c for c in crds if c["metadata"]["name"] == "ippools.crd.projectcalico.org")
        assert ippools["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
            "x-kubernetes-validations"][0]["reason"]  # a 1.28+ server keeps the rule's reason


def test_before_1_25_rules_are_dropped_not_compiled():
    # CustomResourceValidationExpressions is off by default until 1.25 (and the field is unknown before 1.23)
    with served_at("v1.24.17") as running:
        answer = request(running, "POST", CRDS, crd_with_rule("isCIDR(self)"))
        assert answer.status == 201
        assert "x-kubernetes-validations" not in answer.json["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
            "properties"]["spec"]["properties"]["cidr"]
    with served_at("v1.22.17") as running:
        answer = request(running, "POST", CRDS, crd_with_rule("isCIDR(self)"))
        assert answer.status == 201
        assert any("x-kubernetes-validations" in w for w in answer.warnings)


def test_kubectl_create_of_calicos_manifest_on_v1_26_fails_as_a_real_v1_26_does(served_126, kubectl, upstream_file):
    # kubectl asks for fieldValidation=Strict: the CRDs whose rules carry `reason` (a 1.28 field) are 400,
    # the one calling isCIDR is 422; everything else is created (the same answers as a v1.26.5 apiserver)
    result = kubectl(served_126, "create", "--dry-run=server", "-f", str(upstream_file(CALICO_MANIFEST)), check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error from server")]
    assert [e.split(")")[0] for e in errors] == ["Error from server (BadRequest"] * 7 + ["Error from server (Invalid"]
    assert 'unknown field "spec.versions[0].schema.openAPIV3Schema.properties.spec.x-kubernetes-validations[0].' \
           'reason"' in errors[0]
    assert '"clusternetworkpolicies.policy.networking.k8s.io" is invalid' in errors[-1]
    assert len(result.stdout.splitlines()) == 30
