"""Theta store rules (spec §4.3, §7 scenario 12): text on write, key building, prefix scope, result shapes."""

from __future__ import annotations

import numpy as np
import pytest

from crucible.dialects.streamingbandit import theta_text
from crucible.dialects.streamingbandit.library import base, lm
from crucible.dialects.streamingbandit.theta_text import (
    child_range,
    delete_theta,
    encode_hash,
    encode_text,
    in_scope,
    read_theta,
    theta_key,
    write_theta,
)

pytestmark = pytest.mark.filterwarnings("error")  # the encoder must not lean on deprecated numpy paths


def test_scenario_12_text_of_each_kind_of_value() -> None:
    store: dict[str, dict[str, str]] = {}
    thetas = {
        "i": 3,
        "f": 0.1,
        "b": True,
        "l": [1, 2.5],
        "d": {"a": np.float64(0.5)},
        "n": None,
        "z": np.float64(0.25),
        "arr": np.array([1.0, 2.0]),
    }
    write_theta(store, "e1", thetas, key="t", value="v")
    assert read_theta(store, "e1") == {
        "t:v": {
            "i": "3",
            "f": "0.1",
            "b": "True",
            "l": "[1, 2.5]",
            "d": "{'a': 0.5}",
            "n": "None",
            "z": "0.25",
            "arr": "[1.0, 2.0]",
        }
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", "abc"),
        (np.str_("abc"), "abc"),
        (b"caf\xc3\xa9", "café"),
        (False, "False"),
        (np.bool_(True), "True"),
        (np.bool_(False), "False"),
        (0, "0"),
        (np.int64(-7), "-7"),
        (np.uint8(200), "200"),
        (1e-05, "1e-05"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (np.float32(0.5), "0.5"),
        (np.float64(2.0), "2.0"),
        (None, "None"),
        ((1, np.int64(2)), "(1, 2)"),
        ([np.array([1, 2]), {"k": np.bool_(True)}], "[[1, 2], {'k': True}]"),
        ({np.int64(1): [np.float64(0.5)]}, "{1: [0.5]}"),
        (np.identity(2).view(np.matrix), "[[1.0, 0.0], [0.0, 1.0]]"),
        (np.array(0.5), "0.5"),
        (complex(1, 2), "(1+2j)"),
    ],
)
def test_encode_text_table(value: object, text: str) -> None:
    assert encode_text(value) == text


def test_model_dict_text_has_no_numpy_reprs() -> None:
    model = lm.LM({"b": [[0.1, 0.2]], "A": [[1.0, 0.0], [0.0, 1.0]], "n": 3})
    assert encode_hash(model) == {"b": "[[0.1, 0.2]]", "A": "[[1.0, 0.0], [0.0, 1.0]]", "n": "3"}
    assert encode_text({"b": np.array([[0.1, 0.2]]), "A": np.identity(2), "n": np.int64(3)}) == (
        "{'b': [[0.1, 0.2]], 'A': [[1.0, 0.0], [0.0, 1.0]], 'n': 3}"
    )


def test_field_names_are_text_too() -> None:
    assert encode_hash({0: "a", np.int64(7): 2, 2.5: None, "x": False}) == {
        "0": "a",
        "7": "2",
        "2.5": "None",
        "x": "False",
    }


def test_set_theta_calls_get_dict_and_merges() -> None:
    store: dict[str, dict[str, str]] = {}
    count = base.Count({})
    count.increment()
    write_theta(store, "e1", count, key="c", value="x")
    write_theta(store, "e1", {"extra": 1}, key="c", value="x")
    write_theta(store, "e1", {"n": 5}, key="c", value="x")
    assert store == {"exp:e1:_theta:c:x": {"n": "5", "extra": "1"}}


def test_set_theta_empty_mapping_is_a_no_op() -> None:
    store: dict[str, dict[str, str]] = {}
    write_theta(store, "e1", {}, key="k")
    assert store == {}


def test_set_theta_refuses_what_is_not_a_mapping() -> None:
    with pytest.raises(TypeError, match="set_theta"):
        write_theta({}, "e1", [1, 2])


@pytest.mark.parametrize(
    ("key", "value", "name", "expected"),
    [
        (None, None, "_theta", "exp:e1:_theta"),
        ("treatment", None, "_theta", "exp:e1:_theta:treatment"),
        ("treatment", 1, "_theta", "exp:e1:_theta:treatment:1"),
        (None, "v", "_theta", "exp:e1:_theta"),
        (3, 2.5, "other", "exp:e1:other:3:2.5"),
    ],
)
def test_theta_key(key: object, value: object, name: str, expected: str) -> None:
    assert theta_key("e1", key, value, name) == expected


def test_prefix_scope_stops_at_colon() -> None:
    assert in_scope("exp:e:_theta:treatment", "exp:e:_theta:treatment")
    assert in_scope("exp:e:_theta:treatment:1", "exp:e:_theta:treatment")
    assert not in_scope("exp:e:_theta:treatment2:1", "exp:e:_theta:treatment")
    assert not in_scope("exp:e2:_theta", "exp:e:_theta")
    low, high = child_range("exp:e:_theta:treatment")
    keys = [
        "exp:e:_theta:treatment",
        "exp:e:_theta:treatment:1",
        "exp:e:_theta:treatment:9:z",
        "exp:e:_theta:treatment2",
    ]
    assert [k for k in keys if low <= k < high] == ["exp:e:_theta:treatment:1", "exp:e:_theta:treatment:9:z"]


def _arms_store() -> dict[str, dict[str, str]]:
    store: dict[str, dict[str, str]] = {}
    write_theta(store, "e", {"p": 0.53, "n": 17}, key="treatment", value=1)
    write_theta(store, "e", {"p": 0.2, "n": 5}, key="treatment", value=2)
    write_theta(store, "e", {"n": 1}, key="treatment2", value=1)
    write_theta(store, "other", {"n": 9}, key="treatment", value=1)
    return store


def test_get_theta_shapes() -> None:
    store = _arms_store()
    arm1 = {"p": "0.53", "n": "17"}
    assert read_theta(store, "e", key="treatment") == {"1": arm1, "2": {"p": "0.2", "n": "5"}}
    assert read_theta(store, "e", key="treatment2") == {"1": {"n": "1"}}  # single child stays nested
    assert read_theta(store, "e", key="treatment", value=1) == arm1
    assert read_theta(store, "e", key="treatment", value=3) == {}
    assert read_theta(store, "e", key="nothing") == {}
    assert read_theta(store, "e") == {
        "treatment2:1": {"n": "1"},
        "treatment:1": arm1,
        "treatment:2": {"p": "0.2", "n": "5"},
    }
    assert list(read_theta(store, "e")) == sorted(read_theta(store, "e"))
    assert read_theta(store, "e", value="ignored") == {}  # value only: the bare hash, absent here


def test_get_theta_bare_hash_is_flat_and_appears_under_empty_key_with_children() -> None:
    store: dict[str, dict[str, str]] = {}
    write_theta(store, "e", {"t": 1})
    assert read_theta(store, "e") == {"t": "1"}
    assert read_theta(store, "e", value="x") == {"t": "1"}
    write_theta(store, "e", {"n": 2}, key="k")
    assert read_theta(store, "e") == {"": {"t": "1"}, "k": {"n": "2"}}


def test_get_theta_all_float() -> None:
    store = _arms_store()
    assert read_theta(store, "e", key="treatment", all_float=True) == {
        "1": {"p": 0.53, "n": 17.0},
        "2": {"p": 0.2, "n": 5.0},
    }
    assert read_theta(store, "e", key="treatment", value=1, all_float=True) == {"p": 0.53, "n": 17.0}
    write_theta(store, "e", {"condition": "lockin"}, key="userid", value="u")
    with pytest.raises(ValueError):
        read_theta(store, "e", key="userid", value="u", all_float=True)


def test_reads_are_copies() -> None:
    store = _arms_store()
    read_theta(store, "e", key="treatment", value=1)["p"] = "changed"
    read_theta(store, "e", key="treatment")["1"]["p"] = "changed"
    assert store["exp:e:_theta:treatment:1"]["p"] == "0.53"


def test_delete_theta_deletes_what_get_theta_reads() -> None:
    store = _arms_store()
    assert delete_theta(store, "e", key="treatment", value=1) == 1
    assert delete_theta(store, "e", key="treatment", value=1) == 0
    assert delete_theta(store, "e", key="treatment") == 1
    assert set(store) == {"exp:e:_theta:treatment2:1", "exp:other:_theta:treatment:1"}
    assert delete_theta(store, "e") == 1
    assert read_theta(store, "e") == {}
    assert read_theta(store, "other") == {"treatment:1": {"n": "9"}}


def test_selected_keys_exact_and_scoped() -> None:
    keys = ["exp:e:_theta", "exp:e:_theta:a", "exp:e:_theta:a:1", "exp:e:_thetas"]
    assert theta_text.selected_keys(keys, "exp:e:_theta", exact=False) == keys[:3]
    assert theta_text.selected_keys(keys, "exp:e:_theta:a:1", exact=True) == ["exp:e:_theta:a:1"]
    assert theta_text.selected_keys(keys, "exp:e:_theta:b", exact=True) == []
