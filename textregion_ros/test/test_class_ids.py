"""StableClassIds: the label value of a class stays put while the query list changes (no ROS)."""
from __future__ import annotations

import pytest

from textregion_ros.outputs.class_ids import MAX_CAPACITY, StableClassIds


def test_first_classes_take_values_in_list_order() -> None:
    assert StableClassIds().assign(["a", "b", "c"]) == (0, 1, 2)


def test_a_kept_class_keeps_its_value_and_a_new_class_takes_the_lowest_never_used_value() -> None:
    ids = StableClassIds()
    ids.assign(["a", "b", "c"])
    assert ids.assign(["c", "d"]) == (2, 3)  # 0 and 1 stay reserved for a and b


def test_a_returning_class_gets_its_old_value_back() -> None:
    ids = StableClassIds()
    ids.assign(["a", "b", "c"])
    ids.assign(["c", "d"])
    assert ids.assign(["a", "d"]) == (0, 3)


def test_a_query_added_in_front_does_not_relabel_the_others() -> None:
    ids = StableClassIds()
    ids.assign(["person", "chair"])
    assert ids.assign(["door", "person", "chair"]) == (2, 0, 1)


def test_the_order_of_the_list_does_not_change_the_values() -> None:
    ids = StableClassIds()
    ids.assign(["a", "b", "c"])
    assert ids.assign(["c", "a", "b"]) == (2, 0, 1)
    assert ids.values_of(["a", "b", "c"]) == (0, 1, 2)


def test_a_full_table_reuses_the_value_of_the_least_recently_used_removed_class() -> None:
    ids = StableClassIds(capacity=3)
    ids.assign(["a", "b", "c"])
    ids.assign(["b", "c"])  # a last used by call 1
    ids.assign(["c"])  # b last used by call 2
    assert ids.assign(["c", "d"]) == (2, 0)  # a's value goes first
    assert "a" not in ids and "b" in ids
    assert ids.assign(["c", "d", "e"]) == (2, 0, 1)  # then b's


def test_an_evicted_class_that_returns_is_treated_as_new() -> None:
    ids = StableClassIds(capacity=2)
    ids.assign(["a", "b"])
    ids.assign(["b", "c"])  # a's 0 goes to c
    assert ids.assign(["a", "b"]) == (0, 1)  # a is new again: c (dropped) is the one evicted
    assert ids.values_of(["a"]) == (0,) and "c" not in ids


def test_never_used_values_are_taken_before_any_reserved_value() -> None:
    ids = StableClassIds(capacity=4)
    ids.assign(["a", "b"])
    ids.assign(["c"])
    assert ids.assign(["c", "d"]) == (2, 3)
    assert ids.reserved == ("a", "b")


def test_current_classes_are_never_evicted() -> None:
    ids = StableClassIds(capacity=3)
    ids.assign(["a", "b", "c"])
    ids.assign(["a", "b"])  # c reserved
    assert ids.assign(["a", "b", "d"]) == (0, 1, 2)  # only c could go
    assert ids.values_of(["a", "b"]) == (0, 1)


def test_more_current_classes_than_the_capacity_are_refused_and_nothing_changes() -> None:
    ids = StableClassIds(capacity=2)
    ids.assign(["a", "b"])
    with pytest.raises(ValueError, match="3 classes at once.*only 2 label values"):
        ids.assign(["a", "b", "c"])
    assert ids.current == ("a", "b") and len(ids) == 2 and "c" not in ids


def test_a_class_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' is listed twice"):
        StableClassIds().assign(["a", "b", "a"])


def test_one_string_instead_of_a_list_is_refused() -> None:
    with pytest.raises(ValueError, match="not one string"):
        StableClassIds().assign("abc")


def test_classes_are_matched_by_exact_text() -> None:
    ids = StableClassIds()
    assert ids.assign(["floor; ground", "floor;ground", "Floor; ground"]) == (0, 1, 2)


def test_len_counts_current_and_reserved_classes() -> None:
    ids = StableClassIds()
    ids.assign(["a", "b", "c"])
    ids.assign(["d"])
    assert len(ids) == 4 and ids.current == ("d",) and ids.reserved == ("a", "b", "c")


def test_values_of_an_unknown_class_raises_key_error_without_assigning() -> None:
    ids = StableClassIds()
    ids.assign(["a"])
    with pytest.raises(KeyError, match="'z'"):
        ids.values_of(["a", "z"])
    assert "z" not in ids and len(ids) == 1


def test_an_empty_set_reserves_every_class() -> None:
    ids = StableClassIds()
    ids.assign(["a", "b"])
    assert ids.assign([]) == ()
    assert ids.assign(["b"]) == (1,)


def test_the_default_capacity_hands_out_values_up_to_65534() -> None:
    ids = StableClassIds()
    assert ids.capacity == MAX_CAPACITY == 65535
    values = ids.assign([f"c{i}" for i in range(MAX_CAPACITY)])
    assert values[-1] == 65534


@pytest.mark.parametrize("capacity", [0, 65536, -1])
def test_a_capacity_outside_one_to_65535_is_refused(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        StableClassIds(capacity)
