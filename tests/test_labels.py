from migrate.labels import selector_matches


def test_empty_selector_selects_everything():
    assert selector_matches({}, {"app": "x"})


def test_match_labels_and_expressions_must_all_hold():
    selector = {"matchLabels": {"app": "db"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "canary", "operator": "DoesNotExist"}]}
    assert selector_matches(selector, {"app": "db", "tier": "a"})
    assert not selector_matches(selector, {"app": "db", "tier": "c"})
    assert not selector_matches(selector, {"app": "db", "tier": "a", "canary": "1"})


def test_missing_selector_selects_nothing():
    assert not selector_matches(None, {"app": "x"})
