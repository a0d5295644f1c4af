"""Tests for the simulated API server's patch formats: merge patch, JSON patch, strategic merge patch."""

import copy
import json

import pytest

from migrate.sim.patch import (
    PatchError,
    UnsupportedPatchType,
    apply_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)


def deployment(**pod_spec):
    spec = {"containers": [{"name": "app", "image": "nginx:1.25"}], **pod_spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}}


def pod_spec_of(obj):
    return obj["spec"]["template"]["spec"]


def template_patch(pod_spec_patch):
    return {"spec": {"template": {"spec": pod_spec_patch}}}


def node(**fields):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, **fields}


# --- JSON merge patch ---------------------------------------------------------------------

def test_merge_patch_sets_and_overwrites_keys():
    assert json_merge_patch({"a": 1, "b": 2}, {"b": 3, "c": 4}) == {"a": 1, "b": 3, "c": 4}


def test_merge_patch_null_deletes_a_key():
    assert json_merge_patch({"a": 1, "b": 2}, {"a": None}) == {"b": 2}


def test_merge_patch_null_for_a_missing_key_is_ignored():
    assert json_merge_patch({"a": 1}, {"z": None}) == {"a": 1}


def test_merge_patch_merges_nested_objects():
    target = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    assert json_merge_patch(target, {"metadata": {"labels": {"b": None, "c": "3"}}}) == \
        {"metadata": {"labels": {"a": "1", "c": "3"}}}


def test_merge_patch_replaces_lists_whole():
    assert json_merge_patch({"items": [1, 2, 3]}, {"items": [4]}) == {"items": [4]}


def test_merge_patch_that_is_not_an_object_replaces_the_target():
    assert json_merge_patch({"a": 1}, [1, 2]) == [1, 2]


def test_merge_patch_object_replaces_a_scalar_target():
    assert json_merge_patch({"a": "text"}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_merge_patch_drops_nulls_inside_new_objects():
    assert json_merge_patch({}, {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}


def test_merge_patch_does_not_mutate_its_inputs():
    target, patch = {"a": {"b": [1]}, "c": 1}, {"a": {"d": {"e": 1}}, "c": None}
    before = copy.deepcopy((target, patch))
    result = json_merge_patch(target, patch)
    result["a"]["b"].append(2)
    result["a"]["d"]["e"] = 2
    assert (target, patch) == before


# --- JSON patch ----------------------------------------------------------------------------

def test_json_patch_add_sets_an_object_member():
    assert json_patch({"a": 1}, [{"op": "add", "path": "/b", "value": 2}]) == {"a": 1, "b": 2}


def test_json_patch_add_replaces_an_existing_member():
    assert json_patch({"a": 1}, [{"op": "add", "path": "/a", "value": 2}]) == {"a": 2}


def test_json_patch_add_inserts_into_a_list_at_an_index():
    assert json_patch({"l": [1, 3]}, [{"op": "add", "path": "/l/1", "value": 2}]) == {"l": [1, 2, 3]}


def test_json_patch_add_with_dash_appends_to_a_list():
    assert json_patch({"l": [1]}, [{"op": "add", "path": "/l/-", "value": 2}]) == {"l": [1, 2]}


def test_json_patch_add_at_the_list_length_appends():
    assert json_patch({"l": [1]}, [{"op": "add", "path": "/l/1", "value": 2}]) == {"l": [1, 2]}


def test_json_patch_add_with_empty_path_replaces_the_document():
    assert json_patch({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}]) == {"b": 2}


def test_json_patch_remove_deletes_a_member():
    assert json_patch({"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}]) == {"b": 2}


def test_json_patch_remove_deletes_a_list_element():
    assert json_patch({"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/1"}]) == {"l": [1, 3]}


def test_json_patch_replace_changes_an_existing_value():
    assert json_patch({"spec": {"replicas": 1}}, [{"op": "replace", "path": "/spec/replicas", "value": 3}]) == \
        {"spec": {"replicas": 3}}


def test_json_patch_move_relocates_a_value():
    assert json_patch({"a": {"x": 1}, "b": {}}, [{"op": "move", "from": "/a/x", "path": "/b/y"}]) == \
        {"a": {}, "b": {"y": 1}}


def test_json_patch_copy_duplicates_a_value_independently():
    result = json_patch({"a": {"x": [1]}}, [{"op": "copy", "from": "/a", "path": "/b"}])
    result["b"]["x"].append(2)
    assert result["a"] == {"x": [1]}


def test_json_patch_test_passes_on_an_equal_value():
    assert json_patch({"a": [1, {"b": True}]}, [{"op": "test", "path": "/a", "value": [1, {"b": True}]}]) == \
        {"a": [1, {"b": True}]}


def test_json_patch_unescapes_tilde_and_slash_in_pointers():
    target = {"metadata": {"annotations": {"example.com/a~b": "x"}}}
    operations = [{"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "y"}]
    assert json_patch(target, operations) == {"metadata": {"annotations": {"example.com/a~b": "y"}}}


def test_json_patch_applies_operations_in_order():
    operations = [{"op": "add", "path": "/l", "value": []}, {"op": "add", "path": "/l/-", "value": "x"}]
    assert json_patch({}, operations) == {"l": ["x"]}


def test_json_patch_failed_test_raises_with_the_path():
    with pytest.raises(PatchError, match="testing value /a failed"):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])


def test_json_patch_test_tells_true_from_one():
    with pytest.raises(PatchError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])


def test_json_patch_remove_of_a_missing_path_raises():
    with pytest.raises(PatchError, match='missing path: "/metadata/labels/app"'):
        json_patch({"metadata": {"labels": {}}}, [{"op": "remove", "path": "/metadata/labels/app"}])


def test_json_patch_replace_of_a_missing_path_raises():
    with pytest.raises(PatchError, match="replace operation does not apply"):
        json_patch({}, [{"op": "replace", "path": "/a", "value": 1}])


def test_json_patch_add_under_a_missing_parent_raises():
    with pytest.raises(PatchError, match="add operation does not apply"):
        json_patch({}, [{"op": "add", "path": "/a/b", "value": 1}])


def test_json_patch_list_index_out_of_range_raises():
    with pytest.raises(PatchError, match="out of bounds"):
        json_patch({"l": [1]}, [{"op": "add", "path": "/l/5", "value": 2}])


def test_json_patch_list_index_with_leading_zero_raises():
    with pytest.raises(PatchError, match="invalid array index"):
        json_patch({"l": [1, 2]}, [{"op": "remove", "path": "/l/01"}])


def test_json_patch_move_into_its_own_child_raises():
    with pytest.raises(PatchError, match="prefix"):
        json_patch({"a": {"b": {}}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}])


def test_json_patch_unknown_op_raises():
    with pytest.raises(PatchError, match="'bogus'"):
        json_patch({}, [{"op": "bogus", "path": "/a"}])


def test_json_patch_operation_without_value_raises():
    with pytest.raises(PatchError, match="'value'"):
        json_patch({}, [{"op": "add", "path": "/a"}])


def test_json_patch_pointer_without_leading_slash_raises():
    with pytest.raises(PatchError, match="JSON pointer"):
        json_patch({"a": 1}, [{"op": "remove", "path": "a"}])


def test_json_patch_that_is_not_a_list_raises():
    with pytest.raises(PatchError, match="array of operations"):
        json_patch({}, {"op": "add", "path": "/a", "value": 1})


def test_json_patch_is_all_or_nothing_and_does_not_mutate_the_target():
    target = {"a": [1], "b": 1}
    with pytest.raises(PatchError):
        json_patch(target, [{"op": "add", "path": "/a/-", "value": 2}, {"op": "test", "path": "/b", "value": 9}])
    assert target == {"a": [1], "b": 1}


def test_json_patch_does_not_share_values_with_the_operations():
    value = {"x": [1]}
    result = json_patch({}, [{"op": "add", "path": "/v", "value": value}])
    result["v"]["x"].append(2)
    assert value == {"x": [1]}


# --- strategic merge patch: lists with merge keys --------------------------------------------

def test_strategic_merge_merges_containers_by_name():
    patch = template_patch({"containers": [{"name": "app", "image": "nginx:1.27"}]})
    patched = strategic_merge_patch(deployment(), patch)
    assert pod_spec_of(patched)["containers"] == [{"name": "app", "image": "nginx:1.27"}]


def test_strategic_merge_puts_a_new_container_first_like_the_api_server():
    patch = template_patch({"containers": [{"name": "sidecar", "image": "redis"}]})
    patched = strategic_merge_patch(deployment(), patch)
    assert [c["name"] for c in pod_spec_of(patched)["containers"]] == ["sidecar", "app"]


def test_strategic_merge_merges_init_containers_by_name():
    target = deployment(initContainers=[{"name": "init", "image": "busybox", "command": ["true"]}])
    patched = strategic_merge_patch(target, template_patch({"initContainers": [{"name": "init", "image": "alpine"}]}))
    assert pod_spec_of(patched)["initContainers"] == [{"name": "init", "image": "alpine", "command": ["true"]}]


def test_strategic_merge_merges_ephemeral_containers_by_name():
    pod = {"kind": "Pod", "spec": {"ephemeralContainers": [{"name": "debug", "image": "busybox"}]}}
    patched = strategic_merge_patch(pod, {"spec": {"ephemeralContainers": [{"name": "debug", "tty": True}]}})
    assert patched["spec"]["ephemeralContainers"] == [{"name": "debug", "image": "busybox", "tty": True}]


def test_strategic_merge_merges_env_by_name():
    target = deployment()
    pod_spec_of(target)["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    patch = template_patch({"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]})
    patched = strategic_merge_patch(target, patch)
    assert pod_spec_of(patched)["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]


def test_strategic_merge_merges_volumes_by_name():
    target = deployment(volumes=[{"name": "cni", "hostPath": {"path": "/etc/cni/net.d"}},
                                 {"name": "run", "hostPath": {"path": "/run/flannel"}}])
    patch = template_patch({"volumes": [{"name": "run", "hostPath": {"type": "DirectoryOrCreate"}}]})
    patched = strategic_merge_patch(target, patch)
    assert pod_spec_of(patched)["volumes"] == [
        {"name": "cni", "hostPath": {"path": "/etc/cni/net.d"}},
        {"name": "run", "hostPath": {"path": "/run/flannel", "type": "DirectoryOrCreate"}}]


def test_strategic_merge_merges_volume_mounts_by_mount_path():
    target = deployment()
    pod_spec_of(target)["containers"][0]["volumeMounts"] = [{"name": "cni", "mountPath": "/etc/cni"}]
    container_patch = {"name": "app", "volumeMounts": [{"name": "cni-conf", "mountPath": "/etc/cni", "readOnly": True}]}
    patched = strategic_merge_patch(target, template_patch({"containers": [container_patch]}))
    assert pod_spec_of(patched)["containers"][0]["volumeMounts"] == [
        {"name": "cni-conf", "mountPath": "/etc/cni", "readOnly": True}]


def test_strategic_merge_merges_container_ports_by_container_port():
    target = deployment()
    pod_spec_of(target)["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    patch = template_patch({"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "http"}]}]})
    patched = strategic_merge_patch(target, patch)
    assert pod_spec_of(patched)["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}]


def test_strategic_merge_merges_image_pull_secrets_by_name():
    target = deployment(imagePullSecrets=[{"name": "registry"}])
    patched = strategic_merge_patch(target, template_patch({"imagePullSecrets": [{"name": "mirror"}]}))
    assert pod_spec_of(patched)["imagePullSecrets"] == [{"name": "mirror"}, {"name": "registry"}]


def test_strategic_merge_merges_host_aliases_by_ip():
    target = deployment(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a"]}])
    patched = strategic_merge_patch(target, template_patch({"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}]}))
    assert pod_spec_of(patched)["hostAliases"] == [{"ip": "10.0.0.1", "hostnames": ["b"]}]


def test_strategic_merge_merges_owner_references_by_uid():
    target = {"kind": "Pod", "metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs"}]}}
    patched = strategic_merge_patch(target, {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}})
    assert patched["metadata"]["ownerReferences"] == [
        {"uid": "u1", "kind": "ReplicaSet", "name": "rs", "controller": True}]


def test_strategic_merge_unions_finalizers_without_duplicates():
    target = {"kind": "ConfigMap", "metadata": {"finalizers": ["a", "b"]}}
    patched = strategic_merge_patch(target, {"metadata": {"finalizers": ["b", "c"]}})
    assert patched["metadata"]["finalizers"] == ["a", "b", "c"]


def test_strategic_merge_puts_a_new_finalizer_first_like_the_api_server():
    target = {"kind": "ConfigMap", "metadata": {"finalizers": ["a", "b"]}}
    patched = strategic_merge_patch(target, {"metadata": {"finalizers": ["c"]}})
    assert patched["metadata"]["finalizers"] == ["c", "a", "b"]


def test_strategic_merge_merges_pod_status_conditions_by_type():
    pod = {"kind": "Pod", "status": {"conditions": [{"type": "PodScheduled", "status": "True"},
                                                    {"type": "Ready", "status": "False"}]}}
    patched = strategic_merge_patch(pod, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert patched["status"]["conditions"] == [{"type": "PodScheduled", "status": "True"},
                                               {"type": "Ready", "status": "True"}]


def test_strategic_merge_merges_node_status_conditions_by_type():
    target = node(status={"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"},
                                         {"type": "NetworkUnavailable", "status": "True"}]})
    patch = {"status": {"conditions": [{"type": "NetworkUnavailable", "status": "False", "reason": "CalicoIsUp"}]}}
    patched = strategic_merge_patch(target, patch)
    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "True", "reason": "KubeletReady"},
        {"type": "NetworkUnavailable", "status": "False", "reason": "CalicoIsUp"}]


def test_strategic_merge_merges_node_addresses_by_type():
    target = node(status={"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                        {"type": "Hostname", "address": "node-1"}]})
    patched = strategic_merge_patch(target, {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.9"}]}})
    assert patched["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.9"},
                                              {"type": "Hostname", "address": "node-1"}]


def test_strategic_merge_merges_service_ports_by_port():
    service = {"kind": "Service", "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}}
    patched = strategic_merge_patch(service, {"spec": {"ports": [{"port": 53, "name": "dns"}]}})
    assert patched["spec"]["ports"] == [{"port": 53, "protocol": "UDP", "name": "dns"}]


def test_strategic_merge_merges_by_position_when_the_object_has_no_kind():
    target = {"spec": {"containers": [{"name": "a", "image": "x"}]}}
    patched = strategic_merge_patch(target, {"spec": {"containers": [{"name": "a", "image": "y"}]}})
    assert patched == {"spec": {"containers": [{"name": "a", "image": "y"}]}}


def test_strategic_merge_list_element_without_its_merge_key_raises():
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        strategic_merge_patch(deployment(), template_patch({"containers": [{"image": "x"}]}))


# --- strategic merge patch: lists replaced whole ----------------------------------------------

def test_strategic_merge_replaces_tolerations_whole():
    target = deployment(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "a", "effect": "NoSchedule"}])
    patch = template_patch({"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]})
    assert pod_spec_of(strategic_merge_patch(target, patch))["tolerations"] == \
        [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]


def test_strategic_merge_replaces_node_taints_whole():
    target = node(spec={"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}]})
    patched = strategic_merge_patch(target, {"spec": {"taints": [{"key": "c", "effect": "NoSchedule"}]}})
    assert patched["spec"]["taints"] == [{"key": "c", "effect": "NoSchedule"}]


def test_strategic_merge_replaces_container_args_whole():
    target = deployment()
    pod_spec_of(target)["containers"][0]["args"] = ["--a", "--b"]
    patched = strategic_merge_patch(target, template_patch({"containers": [{"name": "app", "args": ["--c"]}]}))
    assert pod_spec_of(patched)["containers"][0]["args"] == ["--c"]


def test_strategic_merge_replaces_lists_of_custom_resources_whole():
    ippool = {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
              "spec": {"cidr": "10.244.0.0/16", "allowedUses": ["Workload", "Tunnel"]}}
    patched = strategic_merge_patch(ippool, {"spec": {"allowedUses": ["Workload"]}})
    assert patched["spec"] == {"cidr": "10.244.0.0/16", "allowedUses": ["Workload"]}


def test_strategic_merge_still_merges_metadata_of_custom_resources():
    ippool = {"kind": "IPPool", "metadata": {"name": "p", "finalizers": ["a"], "labels": {"x": "1"}}}
    patched = strategic_merge_patch(ippool, {"metadata": {"finalizers": ["b"], "labels": {"y": "2"}}})
    assert patched["metadata"] == {"name": "p", "finalizers": ["b", "a"], "labels": {"x": "1", "y": "2"}}


# --- strategic merge patch: maps and directives -------------------------------------------------

def test_strategic_merge_merges_maps_and_null_deletes_a_key():
    target = {"kind": "ConfigMap", "metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}}
    patched = strategic_merge_patch(target, {"metadata": {"labels": {"a": None, "c": "3"}}, "data": {"k2": "v2"}})
    assert patched == {"kind": "ConfigMap", "metadata": {"labels": {"b": "2", "c": "3"}},
                       "data": {"k": "v", "k2": "v2"}}


def test_strategic_merge_drops_nulls_in_values_the_target_lacks():
    patched = strategic_merge_patch({"kind": "ConfigMap"}, {"metadata": {"annotations": {"a": None, "b": "1"}}})
    assert patched["metadata"] == {"annotations": {"b": "1"}}


def test_strategic_merge_patch_replace_directive_replaces_a_map():
    target = {"kind": "ConfigMap", "data": {"a": "1", "b": "2"}}
    patched = strategic_merge_patch(target, {"data": {"$patch": "replace", "c": "3"}})
    assert patched["data"] == {"c": "3"}


def test_strategic_merge_patch_delete_directive_empties_a_map():
    target = {"kind": "ConfigMap", "data": {"a": "1"}}
    assert strategic_merge_patch(target, {"data": {"$patch": "delete"}})["data"] == {}


def test_strategic_merge_patch_delete_directive_removes_a_list_element():
    target = deployment()
    pod_spec_of(target)["containers"].append({"name": "sidecar", "image": "envoy"})
    patched = strategic_merge_patch(target, template_patch({"containers": [{"name": "sidecar", "$patch": "delete"}]}))
    assert pod_spec_of(patched)["containers"] == [{"name": "app", "image": "nginx:1.25"}]


def test_strategic_merge_patch_replace_directive_in_a_list_replaces_the_list():
    target = deployment(volumes=[{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}])
    patch = template_patch({"volumes": [{"name": "c", "emptyDir": {}}, {"$patch": "replace"}]})
    patched = strategic_merge_patch(target, patch)
    assert pod_spec_of(patched)["volumes"] == [{"name": "c", "emptyDir": {}}]


def test_strategic_merge_unknown_patch_directive_raises():
    with pytest.raises(PatchError, match="unknown patch type: bogus"):
        strategic_merge_patch({"kind": "ConfigMap", "data": {}}, {"data": {"$patch": "bogus"}})


def test_strategic_merge_retain_keys_clears_unlisted_keys():
    target = deployment(volumes=[{"name": "data", "hostPath": {"path": "/var/lib/x"}}])
    volume_patch = {"name": "data", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}
    patched = strategic_merge_patch(target, template_patch({"volumes": [volume_patch]}))
    assert pod_spec_of(patched)["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_strategic_merge_retain_keys_must_list_every_patched_key():
    volume_patch = {"name": "data", "$retainKeys": ["name"], "emptyDir": {}}
    with pytest.raises(PatchError, match="retainKeys"):
        strategic_merge_patch(deployment(volumes=[{"name": "data"}]), template_patch({"volumes": [volume_patch]}))


def test_strategic_merge_delete_from_primitive_list_removes_finalizers():
    target = {"kind": "Pod", "metadata": {"finalizers": ["a", "b", "c"]}}
    patched = strategic_merge_patch(target, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}})
    assert patched["metadata"] == {"finalizers": ["a", "c"]}


def test_strategic_merge_set_element_order_orders_the_merged_list():
    target = deployment()
    patch = template_patch({"$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                            "containers": [{"name": "sidecar", "image": "envoy"}]})
    patched = strategic_merge_patch(target, patch)
    assert [c["name"] for c in pod_spec_of(patched)["containers"]] == ["app", "sidecar"]


def test_strategic_merge_set_element_order_does_not_end_up_in_the_result():
    patch = {"metadata": {"$setElementOrder/finalizers": ["a"], "$deleteFromPrimitiveList/finalizers": ["b"]}}
    patched = strategic_merge_patch({"kind": "Pod", "metadata": {"finalizers": ["a", "b"]}}, patch)
    assert patched["metadata"] == {"finalizers": ["a"]}


def test_strategic_merge_as_kubectl_sends_it_for_a_new_env_var():
    target = deployment()
    pod_spec_of(target)["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    patch = template_patch({"$setElementOrder/containers": [{"name": "app"}],
                            "containers": [{"name": "app", "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                                            "env": [{"name": "B", "value": "2"}]}]})
    patched = strategic_merge_patch(target, patch)
    assert json.dumps(patched).count("$") == 0
    assert pod_spec_of(patched)["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_strategic_merge_strips_directives_from_values_the_target_lacks():
    patch = template_patch({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "gone", "$patch": "delete"}]})
    patched = strategic_merge_patch({"kind": "Deployment", "spec": {"template": {"spec": {}}}}, patch)
    assert pod_spec_of(patched) == {"volumes": [{"name": "v", "emptyDir": {}}]}


def test_strategic_merge_patch_that_is_not_an_object_raises():
    with pytest.raises(PatchError, match="JSON object"):
        strategic_merge_patch({}, [{"op": "add"}])


def test_strategic_merge_does_not_mutate_its_inputs():
    target = deployment(volumes=[{"name": "a", "emptyDir": {}}])
    patch = template_patch({"$setElementOrder/containers": [{"name": "app"}],
                            "containers": [{"name": "app", "image": "x", "env": [{"name": "A", "value": None}]}],
                            "volumes": [{"name": "a", "$patch": "delete"}]})
    before = copy.deepcopy((target, patch))
    patched = strategic_merge_patch(target, patch)
    pod_spec_of(patched)["containers"][0]["image"] = "changed"
    patched["metadata"]["labels"]["new"] = "label"
    assert (target, patch) == before


# --- apply_patch --------------------------------------------------------------------------------

def test_apply_patch_dispatches_merge_patch():
    assert apply_patch({"a": [1, 2]}, b'{"a": [3]}', "application/merge-patch+json") == {"a": [3]}


def test_apply_patch_dispatches_json_patch():
    body = json.dumps([{"op": "replace", "path": "/a", "value": 2}])
    assert apply_patch({"a": 1}, body, "application/json-patch+json") == {"a": 2}


def test_apply_patch_dispatches_strategic_merge_patch():
    body = json.dumps(template_patch({"containers": [{"name": "app", "image": "nginx:1.27"}]}))
    patched = apply_patch(deployment(), body, "application/strategic-merge-patch+json")
    assert pod_spec_of(patched)["containers"] == [{"name": "app", "image": "nginx:1.27"}]


def test_apply_patch_ignores_content_type_parameters():
    assert apply_patch({}, '{"a": 1}', "application/merge-patch+json; charset=utf-8") == {"a": 1}


def test_apply_patch_invalid_json_raises_patch_error():
    with pytest.raises(PatchError, match="not valid JSON") as caught:
        apply_patch({}, b"{not json", "application/merge-patch+json")
    assert caught.value.code == 400


def test_apply_patch_apply_yaml_is_an_unsupported_patch_type():
    with pytest.raises(UnsupportedPatchType):
        apply_patch({}, "a: 1", "application/apply-patch+yaml")


def test_apply_patch_plain_json_is_an_unsupported_patch_type():
    with pytest.raises(UnsupportedPatchType) as caught:
        apply_patch({}, "{}", "application/json")
    assert isinstance(caught.value, PatchError) and caught.value.code == 415


def test_apply_patch_result_that_is_not_an_object_raises():
    with pytest.raises(PatchError, match="JSON object"):
        apply_patch({"a": 1}, '[{"op": "replace", "path": "", "value": [1]}]', "application/json-patch+json")


def test_apply_patch_merge_patch_that_is_not_an_object_raises():
    with pytest.raises(PatchError, match="JSON object"):
        apply_patch({"a": 1}, "[1]", "application/merge-patch+json")
