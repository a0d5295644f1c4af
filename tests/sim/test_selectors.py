"""Tests for label selectors, field selectors and the scheduler's node predicates."""

import copy

import pytest

from migrate.sim.selectors import (
    SUPPORTED_FIELDS_BY_KIND,
    LabelSelector,
    SelectorError,
    check_supported_fields,
    node_selector_matches,
    parse_field_selector,
    parse_label_selector,
    pod_fits_node,
    required_node_affinity_matches,
    selector_from_label_selector_object,
    untolerated_taint,
)


def matches(selector_text, labels):
    return parse_label_selector(selector_text).matches(labels)


# --- label selectors: operators ------------------------------------------------------------

def test_equals_matches_the_label_value():
    assert matches("app=web", {"app": "web"})
    assert not matches("app=web", {"app": "db"})


def test_double_equals_is_the_same_as_equals():
    assert matches("app==web", {"app": "web"})
    assert not matches("app==web", {})


def test_not_equals_rejects_the_value():
    assert not matches("app!=web", {"app": "web"})
    assert matches("app!=web", {"app": "db"})


def test_not_equals_matches_objects_without_the_label():
    assert matches("app!=web", {})


def test_in_matches_any_listed_value():
    assert matches("tier in (web,api)", {"tier": "api"})
    assert not matches("tier in (web,api)", {"tier": "db"})


def test_in_does_not_match_objects_without_the_label():
    assert not matches("tier in (web)", {})


def test_notin_rejects_listed_values():
    assert not matches("tier notin (web,api)", {"tier": "web"})
    assert matches("tier notin (web,api)", {"tier": "db"})


def test_notin_matches_objects_without_the_label():
    assert matches("tier notin (web)", {"other": "x"})


def test_bare_key_requires_the_label_to_exist():
    assert matches("canary", {"canary": ""})
    assert not matches("canary", {"app": "web"})


def test_bang_key_requires_the_label_to_be_absent():
    assert matches("!canary", {"app": "web"})
    assert not matches("!canary", {"canary": "true"})


def test_greater_than_and_less_than_compare_integers():
    assert matches("gen>2", {"gen": "3"}) and not matches("gen>2", {"gen": "2"})
    assert matches("gen<2", {"gen": "1"}) and not matches("gen<2", {"gen": "x"})


def test_comma_separated_requirements_must_all_hold():
    assert matches("app=web,tier in (fe),!canary", {"app": "web", "tier": "fe"})
    assert not matches("app=web,tier in (fe),!canary", {"app": "web", "tier": "fe", "canary": "1"})


def test_whitespace_around_tokens_is_tolerated():
    assert matches("  app = web ,  tier   notin ( db , cache ) ", {"app": "web", "tier": "fe"})


def test_empty_selector_matches_everything():
    selector = parse_label_selector("")
    assert selector.empty and selector.matches({}) and selector.matches(None)


def test_key_with_dns_prefix_is_accepted():
    assert matches("app.kubernetes.io/name=calico-node", {"app.kubernetes.io/name": "calico-node"})


def test_empty_value_after_equals_selects_the_empty_value():
    assert matches("app=", {"app": ""})
    assert not matches("app=", {"app": "web"})


def test_empty_parentheses_hold_the_empty_value():
    assert matches("app in ()", {"app": ""})


def test_in_and_notin_are_plain_words_where_values_stand():
    assert matches("mode in (in,notin)", {"mode": "notin"})


def test_matches_treats_none_labels_as_no_labels():
    assert matches("!app", None) and not matches("app", None)


def test_selector_prints_like_kubernetes_sorted_by_key():
    assert str(parse_label_selector("z notin (b,a),a=1,!m")) == "a=1,!m,z notin (a,b)"


# --- label selectors: errors ----------------------------------------------------------------

def test_invalid_key_raises_with_the_api_servers_message():
    with pytest.raises(SelectorError, match=r'^<nil>: Invalid value: "app@x": name part must consist of'):
        parse_label_selector("app@x=web")


def test_key_with_uppercase_prefix_raises():
    with pytest.raises(SelectorError, match="prefix part a lowercase RFC 1123 subdomain"):
        parse_label_selector("Example.com/app=web")


def test_key_with_two_slashes_raises():
    with pytest.raises(SelectorError, match="a qualified name must consist of"):
        parse_label_selector("a/b/c")


def test_key_name_longer_than_63_characters_raises():
    with pytest.raises(SelectorError, match="name part must be no more than 63 characters"):
        parse_label_selector("k" * 64)


def test_invalid_value_raises_naming_the_value_and_key():
    with pytest.raises(SelectorError, match=r'values\[0\]\[app\]: Invalid value: "-web": a valid label must be'):
        parse_label_selector("app=-web")


def test_value_longer_than_63_characters_raises():
    with pytest.raises(SelectorError, match="must be no more than 63 characters"):
        parse_label_selector("app=" + "v" * 64)


def test_missing_operator_raises():
    with pytest.raises(SelectorError, match="found 'web', expected: in, notin, =, ==, !=, gt, lt"):
        parse_label_selector("app web")


def test_unclosed_value_set_raises():
    with pytest.raises(SelectorError, match=r"found '', expected: ',' or '\)'"):
        parse_label_selector("app in (web")


def test_value_set_without_parentheses_raises():
    with pytest.raises(SelectorError, match="expected: '\\('"):
        parse_label_selector("app in web")


def test_trailing_comma_raises():
    with pytest.raises(SelectorError, match="expected: identifier after ','"):
        parse_label_selector("app=web,")


def test_leading_comma_raises():
    with pytest.raises(SelectorError, match="expected: !, identifier, or 'end of string'"):
        parse_label_selector(",app=web")


def test_does_not_exist_with_a_value_raises():
    with pytest.raises(SelectorError, match="found '=', expected: ',' or 'end of string'"):
        parse_label_selector("!app=web")


def test_greater_than_with_a_non_integer_raises():
    with pytest.raises(SelectorError, match="the value must be an integer"):
        parse_label_selector("gen>two")


# --- metav1.LabelSelector objects -------------------------------------------------------------

def test_label_selector_object_match_labels_must_all_match():
    selector = selector_from_label_selector_object({"matchLabels": {"app": "web", "tier": "fe"}})
    assert selector.matches({"app": "web", "tier": "fe", "x": "y"})
    assert not selector.matches({"app": "web"})


def test_label_selector_object_match_expressions_support_all_operators():
    selector = selector_from_label_selector_object({"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["fe", "be"]},
        {"key": "env", "operator": "NotIn", "values": ["prod"]},
        {"key": "app", "operator": "Exists"},
        {"key": "canary", "operator": "DoesNotExist"},
    ]})
    assert selector.matches({"tier": "fe", "app": "x"})
    assert not selector.matches({"tier": "fe", "app": "x", "env": "prod"})
    assert not selector.matches({"tier": "fe", "app": "x", "canary": "1"})
    assert not selector.matches({"tier": "fe"})


def test_label_selector_object_combines_labels_and_expressions():
    selector = selector_from_label_selector_object({"matchLabels": {"app": "web"},
                                                    "matchExpressions": [{"key": "tier", "operator": "Exists"}]})
    assert selector.matches({"app": "web", "tier": "x"}) and not selector.matches({"app": "web"})


def test_nil_label_selector_object_matches_nothing():
    selector = selector_from_label_selector_object(None)
    assert selector.matches_nothing and not selector.matches({}) and not selector.matches({"app": "web"})


def test_empty_label_selector_object_matches_everything():
    selector = selector_from_label_selector_object({})
    assert selector.empty and selector.matches({}) and selector.matches({"app": "web"})


def test_label_selector_object_returns_the_same_type_as_parsing():
    assert isinstance(selector_from_label_selector_object({"matchLabels": {"a": "b"}}), LabelSelector)
    assert selector_from_label_selector_object({"matchLabels": {"a": "b"}}) == parse_label_selector("a=b")


def test_label_selector_object_unknown_operator_raises():
    with pytest.raises(SelectorError, match='"Equals" is not a valid label selector operator'):
        selector_from_label_selector_object({"matchExpressions": [{"key": "a", "operator": "Equals"}]})


def test_label_selector_object_in_without_values_raises():
    with pytest.raises(SelectorError, match="values set can't be empty"):
        selector_from_label_selector_object({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})


def test_label_selector_object_exists_with_values_raises():
    with pytest.raises(SelectorError, match="values set must be empty"):
        selector_from_label_selector_object({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})


def test_label_selector_object_invalid_label_key_raises():
    with pytest.raises(SelectorError, match='key: Invalid value: "bad key"'):
        selector_from_label_selector_object({"matchLabels": {"bad key": "v"}})


# --- field selectors ---------------------------------------------------------------------------

POD = {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "default"},
       "spec": {"nodeName": "node-1", "hostNetwork": True, "restartPolicy": "Always"},
       "status": {"phase": "Running", "podIP": "10.244.1.5"}}


def test_field_selector_equals_reads_dotted_paths():
    assert parse_field_selector("metadata.name=web-1,spec.nodeName=node-1").matches(POD)
    assert not parse_field_selector("status.phase=Pending").matches(POD)


def test_field_selector_double_equals_is_the_same_as_equals():
    assert parse_field_selector("metadata.namespace==default").matches(POD)


def test_field_selector_not_equals_rejects_the_value():
    assert parse_field_selector("status.phase!=Succeeded").matches(POD)
    assert not parse_field_selector("status.phase!=Running").matches(POD)


def test_field_selector_missing_field_compares_as_empty_string():
    unscheduled = {"metadata": {"name": "p"}, "spec": {}}
    assert parse_field_selector("spec.nodeName=").matches(unscheduled)
    assert not parse_field_selector("spec.nodeName=").matches(POD)


def test_field_selector_reads_booleans_as_true_or_false():
    assert parse_field_selector("spec.hostNetwork=true").matches(POD)


def test_field_selector_reads_an_unset_unschedulable_as_false():
    assert parse_field_selector("spec.unschedulable=false").matches({"kind": "Node", "spec": {}})
    assert parse_field_selector("spec.unschedulable=true").matches({"kind": "Node", "spec": {"unschedulable": True}})


def test_field_selector_reads_event_involved_object_and_source():
    event = {"involvedObject": {"kind": "Pod", "name": "web-1"}, "source": {"component": "kubelet"}, "type": "Warning"}
    selector = parse_field_selector("involvedObject.name=web-1,involvedObject.kind=Pod,source=kubelet,type=Warning")
    assert selector.matches(event)


def test_empty_field_selector_matches_everything():
    selector = parse_field_selector("")
    assert selector.empty and selector.matches(POD)


def test_field_selector_exposes_its_requirements():
    selector = parse_field_selector("spec.nodeName=node-1,status.phase!=Failed")
    assert [tuple(r) for r in selector.requirements] == [
        ("spec.nodeName", "=", "node-1"), ("status.phase", "!=", "Failed")]


def test_field_selector_values_may_escape_commas():
    selector = parse_field_selector(r"metadata.name=a\,b")
    assert selector.matches({"metadata": {"name": "a,b"}})


def test_field_selector_without_an_operator_raises():
    with pytest.raises(SelectorError, match="invalid selector: 'metadata.name'; can't understand 'metadata.name'"):
        parse_field_selector("metadata.name")


def test_field_selector_unescaped_equals_in_a_value_raises():
    with pytest.raises(SelectorError, match="unescaped character"):
        parse_field_selector("metadata.name==a=b")


def test_unsupported_field_label_is_rejected_like_the_api_server():
    with pytest.raises(SelectorError, match="^field label not supported: spec.replicas$"):
        check_supported_fields(parse_field_selector("spec.replicas=3"), "Deployment")


def test_supported_field_labels_per_kind():
    check_supported_fields(parse_field_selector("spec.nodeName=n,status.phase=Running"), "Pod")
    check_supported_fields(parse_field_selector("spec.unschedulable=true"), "Node")
    check_supported_fields(parse_field_selector("involvedObject.uid=u,reason=Killing"), "Event")
    check_supported_fields(parse_field_selector("type=kubernetes.io/tls"), "Secret")
    check_supported_fields(parse_field_selector("metadata.name=x"), "ConfigMap")
    assert "status.nominatedNodeName" in SUPPORTED_FIELDS_BY_KIND["Pod"]
    with pytest.raises(SelectorError):
        check_supported_fields(parse_field_selector("spec.nodeName=n"), "Node")


# --- scheduling: nodeSelector and node affinity --------------------------------------------------

def make_node(name="node-1", labels=None, taints=None, unschedulable=False):
    spec = {"taints": taints or []}
    if unschedulable:
        spec["unschedulable"] = True
    return {"kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def affinity(*terms):
    required = {"nodeSelectorTerms": list(terms)}
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}}


def test_node_selector_requires_every_label_exactly():
    worker = make_node(labels={"kubernetes.io/os": "linux", "role": "worker"})
    assert node_selector_matches({"nodeSelector": {"kubernetes.io/os": "linux"}}, worker)
    assert not node_selector_matches({"nodeSelector": {"kubernetes.io/os": "linux", "role": "infra"}}, worker)


def test_node_selector_with_empty_value_needs_the_label_present():
    assert not node_selector_matches({"nodeSelector": {"gpu": ""}}, make_node())


def test_no_node_selector_matches_any_node():
    assert node_selector_matches({}, make_node())


def test_no_node_affinity_matches_any_node():
    assert required_node_affinity_matches({}, make_node())


def test_node_affinity_terms_are_ored():
    spec = affinity({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]})
    assert required_node_affinity_matches(spec, make_node(labels={"zone": "b"}))
    assert not required_node_affinity_matches(spec, make_node(labels={"zone": "c"}))


def test_node_affinity_expressions_within_a_term_are_anded():
    spec = affinity({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]},
                                          {"key": "gpu", "operator": "Exists"}]})
    assert required_node_affinity_matches(spec, make_node(labels={"zone": "a", "gpu": "1"}))
    assert not required_node_affinity_matches(spec, make_node(labels={"zone": "a"}))


def test_node_affinity_not_in_and_does_not_exist():
    spec = affinity({"matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["control-plane"]},
                                          {"key": "node.kubernetes.io/exclude", "operator": "DoesNotExist"}]})
    assert required_node_affinity_matches(spec, make_node(labels={}))
    assert not required_node_affinity_matches(spec, make_node(labels={"role": "control-plane"}))
    assert not required_node_affinity_matches(spec, make_node(labels={"node.kubernetes.io/exclude": ""}))


def test_node_affinity_gt_and_lt_compare_integer_labels():
    spec = affinity({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]},
                                          {"key": "cores", "operator": "Lt", "values": ["64"]}]})
    assert required_node_affinity_matches(spec, make_node(labels={"cores": "8"}))
    assert not required_node_affinity_matches(spec, make_node(labels={"cores": "4"}))
    assert not required_node_affinity_matches(spec, make_node(labels={"cores": "many"}))


def test_node_affinity_match_fields_selects_by_node_name():
    spec = affinity({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]})
    assert required_node_affinity_matches(spec, make_node(name="node-2"))
    assert not required_node_affinity_matches(spec, make_node(name="node-1"))


def test_node_affinity_match_fields_not_in_excludes_a_node():
    spec = affinity({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}]})
    assert not required_node_affinity_matches(spec, make_node(name="node-1"))
    assert required_node_affinity_matches(spec, make_node(name="node-2"))


def test_node_affinity_with_an_empty_term_list_matches_nothing():
    assert not required_node_affinity_matches(affinity(), make_node())


def test_node_affinity_empty_term_matches_nothing():
    assert not required_node_affinity_matches(affinity({}), make_node())


def test_node_affinity_term_with_an_invalid_operator_matches_nothing():
    spec = affinity({"matchExpressions": [{"key": "zone", "operator": "Equals", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "Exists"}]})
    assert required_node_affinity_matches(spec, make_node(labels={"zone": "a"}))
    assert not required_node_affinity_matches(spec, make_node(labels={}))


# --- scheduling: taints and tolerations ------------------------------------------------------------

NO_SCHEDULE = {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}
NO_EXECUTE = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
PREFER = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}


def test_untolerated_taint_returns_the_first_untolerated_taint():
    assert untolerated_taint([], [PREFER, NO_SCHEDULE, NO_EXECUTE]) == NO_SCHEDULE


def test_untolerated_taint_ignores_prefer_no_schedule():
    assert untolerated_taint([], [PREFER]) is None


def test_untolerated_taint_considers_only_the_given_effects():
    assert untolerated_taint([], [NO_SCHEDULE, NO_EXECUTE], effects=("NoExecute",)) == NO_EXECUTE


def test_equal_toleration_needs_the_same_key_and_value():
    assert untolerated_taint([{"key": "dedicated", "operator": "Equal", "value": "infra"}], [NO_SCHEDULE]) is None
    assert untolerated_taint([{"key": "dedicated", "operator": "Equal", "value": "gpu"}], [NO_SCHEDULE]) == NO_SCHEDULE


def test_toleration_without_operator_means_equal():
    assert untolerated_taint([{"key": "dedicated", "value": "infra"}], [NO_SCHEDULE]) is None


def test_exists_toleration_matches_any_value():
    assert untolerated_taint([{"key": "dedicated", "operator": "Exists"}], [NO_SCHEDULE]) is None


def test_empty_key_with_exists_tolerates_everything():
    assert untolerated_taint([{"operator": "Exists"}], [NO_SCHEDULE, NO_EXECUTE]) is None


def test_toleration_with_empty_effect_matches_every_effect():
    taints = [NO_SCHEDULE, {**NO_SCHEDULE, "effect": "NoExecute"}]
    assert untolerated_taint([{"key": "dedicated", "operator": "Exists"}], taints) is None


def test_toleration_with_another_effect_does_not_tolerate():
    toleration = {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}
    assert untolerated_taint([toleration], [NO_SCHEDULE]) == NO_SCHEDULE


def test_toleration_seconds_does_not_matter_for_scheduling():
    toleration = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": 0}
    assert untolerated_taint([toleration], [NO_EXECUTE]) is None


def test_untolerated_taint_accepts_none_lists():
    assert untolerated_taint(None, None) is None


# --- scheduling: pod_fits_node -------------------------------------------------------------------

def test_pod_fits_a_plain_node():
    assert pod_fits_node({"containers": []}, make_node()) == (True, "")


def test_pod_does_not_fit_a_cordoned_node():
    assert pod_fits_node({}, make_node(unschedulable=True)) == (False, "node(s) were unschedulable")


def test_pod_tolerating_the_unschedulable_taint_fits_a_cordoned_node():
    daemon_toleration = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    assert pod_fits_node({"tolerations": [daemon_toleration]}, make_node(unschedulable=True)) == (True, "")


def test_pod_does_not_fit_a_node_with_an_untolerated_taint():
    assert pod_fits_node({}, make_node(taints=[NO_SCHEDULE])) == \
        (False, "node(s) had untolerated taint {dedicated: infra}")


def test_pod_does_not_fit_a_node_that_fails_its_node_selector():
    fits, reason = pod_fits_node({"nodeSelector": {"role": "infra"}}, make_node())
    assert (fits, reason) == (False, "node(s) didn't match Pod's node affinity/selector")


def test_pod_does_not_fit_a_node_that_fails_its_node_affinity():
    spec = affinity({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]})
    assert pod_fits_node(spec, make_node()) == (False, "node(s) didn't match Pod's node affinity/selector")


def test_pod_fit_reports_the_cordon_before_taints_like_the_scheduler():
    assert pod_fits_node({}, make_node(unschedulable=True, taints=[NO_SCHEDULE]))[1] == "node(s) were unschedulable"


def test_pod_fit_reports_taints_before_affinity_like_the_scheduler():
    reason = pod_fits_node({"nodeSelector": {"role": "infra"}}, make_node(taints=[NO_SCHEDULE]))[1]
    assert reason.startswith("node(s) had untolerated taint")


def test_pod_fits_node_does_not_mutate_its_inputs():
    spec = {"tolerations": [{"operator": "Exists"}],
            **affinity({"matchExpressions": [{"key": "a", "operator": "Exists"}]})}
    target = make_node(labels={"a": "1"}, taints=[NO_SCHEDULE], unschedulable=True)
    before = copy.deepcopy((spec, target))
    assert pod_fits_node(spec, target) == (True, "")
    assert (spec, target) == before
