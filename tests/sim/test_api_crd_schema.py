"""Custom resources validated, pruned and defaulted by their CRD's structural schema, with the
messages kube-apiserver v1.26.5 gives (each was compared with a real one)."""
import pytest

from crd_helpers import CRDS, GADGETS, gadget, install, request


@pytest.fixture
def served(served_small):
    install(served_small)
    return served_small


def create(served, spec, query="", **extra):
    return request(served, "POST", GADGETS + query, gadget(spec, **extra))


def test_a_field_of_the_wrong_type_is_422_with_kube_openapis_message(served):
    answer = create(served, {"name": "abc", "size": "string"})
    assert answer.status == 422
    assert answer.message == ('Gadget.example.com "g" is invalid: spec.size: Invalid value: "string": spec.size in '
                              'body must be of type integer: "string"')
    assert answer.json["details"]["causes"] == [{"reason": "FieldValueTypeInvalid", "field": "spec.size",
                                                 "message": 'Invalid value: "string": spec.size in body must be of '
                                                            'type integer: "string"'}]


def test_a_missing_required_field_is_required_value(served):
    answer = create(served, {"size": 3})
    assert answer.status == 422
    assert answer.message == 'Gadget.example.com "g" is invalid: spec.name: Required value'


def test_an_integer_field_takes_a_whole_float_but_not_a_fraction(served):
    assert create(served, {"name": "abc", "size": 3.0}, "?dryRun=All").status == 201
    answer = create(served, {"name": "abc", "count": 3.5})
    assert answer.message.endswith('spec.count: Invalid value: "number": spec.count in body must be of type '
                                   'integer: "number"')


def test_an_int_or_string_field_refuses_a_boolean(served):
    answer = create(served, {"name": "abc", "port": True})
    assert answer.message.endswith('spec.port: Invalid value: "boolean": spec.port in body must be of type '
                                   'integer,string: "boolean"')


def test_a_nullable_null_is_kept_and_a_non_nullable_null_dropped(served):
    answer = create(served, {"name": "abc", "opt": None, "nonnull": None})
    assert answer.status == 201
    assert "opt" in answer.json["spec"] and answer.json["spec"]["opt"] is None
    assert "nonnull" not in answer.json["spec"]


def test_an_enum_refusal_lists_the_supported_values(served):
    answer = create(served, {"name": "abc", "mode": "C"})
    assert answer.message.endswith('spec.mode: Unsupported value: "C": supported values: "A", "B"')
    assert answer.json["details"]["causes"][0]["reason"] == "FieldValueNotSupported"


def test_cidr_and_date_time_formats_are_checked(served):
    answer = create(served, {"name": "abc", "cidr": "10.0.0.0/33", "when": "yesterday"})
    causes = {c["field"]: c["message"] for c in answer.json["details"]["causes"]}
    assert causes == {"spec.cidr": 'Invalid value: "10.0.0.0/33": spec.cidr in body must be of type cidr: '
                                   '"10.0.0.0/33"',
                      "spec.when": 'Invalid value: "yesterday": spec.when in body must be of type date-time: '
                                   '"yesterday"'}
    ok = create(served, {"name": "abc", "cidr": "10.244.1.7/24", "when": "2024-05-01T10:00:00Z"}, "?dryRun=All")
    assert ok.status == 201


def test_a_number_under_a_string_format_is_named_by_its_go_type(served):
    answer = create(served, {"name": "abc", "cidr": 5})
    assert answer.message.endswith('spec.cidr: Invalid value: "int64": spec.cidr in body must be of type cidr: '
                                   '"int64"')


def test_formats_kube_openapi_does_not_know_are_not_checked(served):
    # int32 is stripped from the schema (formats.go); only the type counts
    assert create(served, {"name": "abc", "count": 99999999999}, "?dryRun=All").status == 201


def test_a_pattern_mismatch_is_invalid_value(served):
    answer = create(served, {"name": "ABC"})
    assert answer.message.endswith("""spec.name: Invalid value: "ABC": spec.name in body should match '^[a-z]+$'""")


def test_string_length_limits(served):
    assert create(served, {"name": "abcdefg"}).message.endswith("spec.name: Too long: may not be longer than 5")
    assert create(served, {"name": "a"}).message.endswith(
        'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long')


def test_item_and_property_count_limits(served):
    assert create(served, {"name": "abc", "tags": ["a", "b", "c"]}).message.endswith(
        "spec.tags: Too many: 3: must have at most 2 items")
    assert create(served, {"name": "abc", "tags": []}).message.endswith(
        "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items")
    assert create(served, {"name": "abc", "labels": {"a": "1", "b": "2", "c": "3"}}).message.endswith(
        "spec.labels: Too many: 3: must have at most 2 items")
    assert create(served, {"name": "abc", "labels": {}}).message.endswith(
        "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties")


def test_value_bounds_inclusive_and_exclusive(served):
    answer = create(served, {"name": "abc", "size": 11, "ratio": 1.5})
    assert sorted(c["message"] for c in answer.json["details"]["causes"]) == [
        "Invalid value: 1.5: spec.ratio in body should be less than 1.5",
        "Invalid value: 11: spec.size in body should be less than or equal to 10"]
    assert create(served, {"name": "abc", "size": 0}).message.endswith(
        "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1")


def test_additional_properties_values_are_validated(served):
    answer = create(served, {"name": "abc", "labels": {"a": 1}})
    assert answer.message.endswith('spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of '
                                   'type string: "integer"')


def test_an_embedded_resource_needs_api_version_and_kind(served):
    answer = create(served, {"name": "abc", "emb": {"foo": 1}})
    assert answer.message.endswith("[spec.emb.apiVersion: Required value: must not be empty, "
                                   "spec.emb.kind: Required value: must not be empty]")


def test_a_dry_run_create_is_validated_too(served):
    answer = create(served, {"size": 3}, "?dryRun=All")
    assert answer.status == 422
    assert request(served, "GET", GADGETS).json["items"] == []


def test_a_merge_patch_and_a_replace_are_validated(served):
    assert create(served, {"name": "abc"}).status == 201
    patched = request(served, "PATCH", GADGETS + "/g", {"spec": {"size": "x"}}, "application/merge-patch+json")
    assert patched.status == 422
    assert patched.message.endswith('spec.size: Invalid value: "string": spec.size in body must be of type '
                                    'integer: "string"')
    current = request(served, "GET", GADGETS + "/g").json
    current["spec"]["tags"] = "y"
    replaced = request(served, "PUT", GADGETS + "/g", current)
    assert replaced.message.endswith('spec.tags: Invalid value: "string": spec.tags in body must be of type '
                                     'array: "string"')


def test_a_status_update_is_validated_against_the_schema(served):
    assert create(served, {"name": "abc"}).status == 201
    answer = request(served, "PATCH", GADGETS + "/g/status", {"status": {"phase": "Bad"}},
                     "application/merge-patch+json")
    assert answer.status == 422
    assert answer.message == ('Gadget.example.com "g" is invalid: status.phase: Unsupported value: "Bad": '
                              'supported values: "Ready", "NotReady"')


def test_a_create_drops_the_status_of_a_kind_with_a_status_subresource(served):
    answer = create(served, {"name": "abc"}, status={"phase": "Ready"})
    assert answer.status == 201
    assert "status" not in answer.json


def test_unknown_fields_are_pruned_from_the_stored_object(served):
    answer = create(served, {"name": "abc", "bogus": 1, "nested": {"zz": 1}}, bogus2=3)
    assert answer.status == 201
    stored = request(served, "GET", GADGETS + "/g").json
    assert "bogus2" not in stored
    assert stored["spec"] == {"name": "abc", "mode": "A", "nested": {"a": 5}}


def test_a_preserve_unknown_fields_subtree_keeps_what_it_holds(served):
    answer = create(served, {"name": "abc", "free": {"anything": {"goes": [1, 2]}}})
    assert answer.json["spec"]["free"] == {"anything": {"goes": [1, 2]}}
    assert answer.warnings == []


def test_defaults_fill_absent_fields_including_nested_ones(served):
    answer = create(served, {"name": "abc"})
    assert answer.json["spec"] == {"name": "abc", "mode": "A", "nested": {"a": 5}}


def test_a_null_with_a_default_is_defaulted(served):
    answer = create(served, {"name": "abc", "nested": None})
    assert answer.json["spec"]["nested"] == {"a": 5}


def test_a_default_added_to_the_schema_later_shows_when_the_object_is_read(served):
    assert create(served, {"name": "abc"}).status == 201
    crd = request(served, "GET", CRDS + "/gadgets.example.com").json
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]["default"] = 7
    assert request(served, "PUT", CRDS + "/gadgets.example.com", crd).status == 200
    assert request(served, "GET", GADGETS + "/g").json["spec"]["size"] == 7
    assert [g["spec"]["size"] for g in request(served, "GET", GADGETS).json["items"]] == [7]


def test_objects_written_inside_the_simulator_are_validated_too(served):
    from migrate.sim.errors import ApiError
    cluster = served.cluster
    with pytest.raises(ApiError) as info:
        cluster.create(gadget({"name": "abc", "size": "x"}) | {"metadata": {"name": "g", "namespace": "default"}})
    assert info.value.code == 422

