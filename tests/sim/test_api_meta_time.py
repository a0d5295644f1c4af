"""metav1.MicroTime and metav1.Time fields as a write's decoding reads them (sim/meta_time.py). The texts
were seen on a kube-apiserver v1.26.5; tests/test_api_parity.py checks the Lease case against one."""
import pytest

from migrate.sim.meta_time import RFC3339, RFC3339_MICRO, TimeParseError, go_parse

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
LAYOUT = '"2006-01-02T15:04:05.000000Z07:00"'


@pytest.fixture
def rest(served_small):
    from realapi import Rest
    cluster = served_small.cluster
    return Rest(cluster.server.url, cluster.credentials.admin_token)


def lease(name, **spec):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": "alice", **spec}}


@pytest.mark.parametrize("text, error", [
    ("2024-01-01T00:00:00.123Z", f'as {LAYOUT}: cannot parse ".123Z" as ".000000"'),
    ("2024-01-01T00:00:00.0000001Z", f'as {LAYOUT}: cannot parse "1Z" as "Z07:00"'),
    ("2024-01-01T00:00:00.00000aZ", f'as {LAYOUT}: cannot parse "Z" as ".000000"'),
    ("2024-01-01 00:00:00.000000Z", f'as {LAYOUT}: cannot parse " 00:00:00.000000Z" as "T"'),
    ("2024-01-01T00:00:00.000000+0200", f'as {LAYOUT}: cannot parse "+0200" as "Z07:00"'),
    ("24-01-01", f'as {LAYOUT}: cannot parse "1-01" as "2006"'),
    ("2024-1-01T00:00:00.000000Z", f'as {LAYOUT}: cannot parse "1-01T00:00:00.000000Z" as "01"'),
    ("2024-13-01T00:00:00.000000Z", ": month out of range"),
    ("2024-02-30T00:00:00.000000Z", ": day out of range"),
    ("2024-01-01T25:00:00.000000Z", ": hour out of range"),
    ("2024-01-01T00:00:00.000000Zjunk", ': extra text: "junk"'),
])
def test_micro_time_parse_errors_read_as_go_1_19_writes_them(text, error):
    with pytest.raises(TimeParseError) as raised:
        go_parse(RFC3339_MICRO, text)
    assert str(raised.value) == f'parsing time "{text}"{" " if error.startswith("as") else ""}{error}'


def test_time_takes_any_fraction_and_micro_time_a_comma_or_a_far_offset():
    assert go_parse(RFC3339, "2024-01-01T00:00:00.123+02:00").isoformat() == "2023-12-31T22:00:00.123000+00:00"
    assert go_parse(RFC3339_MICRO, "2024-01-01T00:00:00,000000Z").isoformat() == "2024-01-01T00:00:00+00:00"
    assert go_parse(RFC3339_MICRO, "2024-01-01T00:00:00.000000+24:00").isoformat() == "2023-12-31T00:00:00+00:00"


def test_a_core_event_time_without_microseconds_is_400(rest):
    answer = rest.request("POST", "/api/v1/namespaces/default/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "reason": "R", "message": "m",
        "involvedObject": {"kind": "Pod", "name": "x", "namespace": "default"}, "eventTime": "2024-01-01T00:00:00Z"})

    assert answer.status == 400, answer
    assert answer.json["message"] == ('Event in version "v1" cannot be handled as a Event: parsing time '
                                      f'"2024-01-01T00:00:00Z" as {LAYOUT}: cannot parse "Z" as ".000000"')


def test_a_lease_time_that_is_no_string_names_the_go_struct_field(rest):
    answer = rest.request("POST", LEASES, lease("lock", renewTime=True))

    assert answer.status == 400, answer
    assert answer.json["message"] == ('Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal '
                                      'bool into Go struct field LeaseSpec.spec.renewTime of type string')


def test_a_managed_fields_time_is_a_time_not_a_micro_time(rest):
    entry = {"manager": "x", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {}}}
    configmaps = "/api/v1/namespaces/default/configmaps"
    whole_seconds = rest.request("POST", configmaps, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "a", "managedFields": [{**entry, "time": "2024-01-01T00:00:00Z"}]}, "data": {"k": "v"}})
    garbage = rest.request("POST", configmaps, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "b", "managedFields": [{**entry, "time": "bad"}]}})

    assert whole_seconds.status == 201, whole_seconds
    assert garbage.status == 400, garbage
    assert garbage.json["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: parsing time '
                                       '"bad" as "2006-01-02T15:04:05Z07:00": cannot parse "bad" as "2006"')


def test_a_strategic_merge_patch_to_a_bad_micro_time_is_422_on_the_patch(rest):
    assert rest.request("POST", LEASES, lease("lock")).status == 201

    answer = rest.request("PATCH", f"{LEASES}/lock", {"spec": {"renewTime": "2024-01-01T00:00:00Z"}},
                          {"Content-Type": "application/strategic-merge-patch+json"})

    assert answer.status == 422, answer
    body = ('Invalid value: "map[spec:map[renewTime:2024-01-01T00:00:00Z]]": parsing time "2024-01-01T00:00:00Z" '
            f'as {LAYOUT}: cannot parse "Z" as ".000000"')
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": f' "" is invalid: patch: {body}', "reason": "Invalid",
                           "details": {"causes": [{"reason": "FieldValueInvalid", "message": body,
                                                   "field": "patch"}]}, "code": 422}
