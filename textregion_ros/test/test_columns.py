"""Columns keeps per-row arrays aligned through append, take and compact (the tracker's and the memory's table)."""
from __future__ import annotations

import numpy as np
import pytest

from textregion_ros.objects.columns import Column, Columns

COLUMNS = {
    "ids": Column(np.uint32),
    "tokens": Column(np.float32, (None,)),
    "boxes": Column(np.float64, (4,), np.nan),
    "names": Column(object, (), ""),
}


def table_of(count: int) -> Columns:
    """Rows whose every column is derived from its id, so alignment can be checked from any column."""
    table = Columns(COLUMNS)
    ids = np.arange(1, count + 1, dtype=np.uint32)
    table.append({"ids": ids, "tokens": np.repeat(ids[:, None], 3, axis=1), "boxes": np.repeat(ids[:, None], 4, axis=1),
                  "names": np.array([f"n{i}" for i in ids], dtype=object)}, count)
    return table


def assert_aligned(table: Columns) -> None:
    ids = table["ids"]
    assert np.array_equal(table["tokens"], np.repeat(ids[:, None], 3, axis=1).astype(np.float32))
    assert np.array_equal(table["boxes"], np.repeat(ids[:, None], 4, axis=1).astype(np.float64))
    assert table["names"].tolist() == [f"n{i}" for i in ids.tolist()]


def test_append_fills_every_column_and_returns_the_new_rows():
    table = table_of(3)
    rows = table.append({"ids": np.array([4, 5]), "tokens": np.array([[4.0] * 3, [5.0] * 3]), "boxes": 0.0}, 2)
    assert rows.tolist() == [3, 4] and len(table) == 5
    assert table["boxes"][3:].tolist() == [[0.0] * 4, [0.0] * 4]  # a scalar broadcasts to every row
    assert table["names"][3:].tolist() == ["", ""]  # a column not given gets its fill value


def test_appending_beyond_the_capacity_keeps_the_rows():
    table = table_of(20)
    assert table.capacity >= 20
    assert_aligned(table)


def test_an_empty_table_takes_a_free_dimension_from_the_first_rows():
    table = Columns(COLUMNS)
    assert table.trailing_shape("tokens") == (0,)
    table.append({"ids": np.array([1]), "tokens": np.ones((1, 7))}, 1)
    assert table.trailing_shape("tokens") == (7,) and table["tokens"].shape == (1, 7)


def test_take_copies_the_same_rows_of_every_column():
    table = table_of(6)
    taken = table.take(np.array([4, 1]))
    assert taken["ids"].tolist() == [5, 2] and taken["tokens"][:, 0].tolist() == [5.0, 2.0]
    assert taken["names"].tolist() == ["n5", "n2"]
    taken["tokens"][:] = -1.0
    assert table["tokens"][4, 0] == 5.0  # a copy


def test_take_of_a_slice_is_a_copy_too():
    table = table_of(2)
    table.take(slice(None))["ids"][:] = 0
    assert table["ids"].tolist() == [1, 2]


def test_take_can_choose_the_columns():
    assert set(table_of(2).take(np.array([0]), ["ids", "names"])) == {"ids", "names"}


def test_stable_compact_keeps_the_order_of_the_rows_kept_and_says_which_moved():
    table = table_of(6)
    moved_from, moved_to = table.compact(np.array([True, False, True, False, True, True]))
    assert table["ids"].tolist() == [1, 3, 5, 6]
    assert moved_from.tolist() == [2, 4, 5] and moved_to.tolist() == [1, 2, 3]
    assert_aligned(table)


def test_swap_compact_moves_the_last_rows_into_the_holes():
    table = table_of(6)
    moved_from, moved_to = table.compact(np.array([True, False, True, False, True, True]), stable=False)
    assert table["ids"].tolist() == [1, 5, 3, 6]  # rows 1 and 3 were holes; 2 stayed where it was
    assert moved_from.tolist() == [4, 5] and moved_to.tolist() == [1, 3]
    assert_aligned(table)


def test_rows_freed_by_compact_hold_the_fill_value_when_appended_again():
    table = table_of(3)
    table.compact(np.array([True, False, False]))
    table.append({"ids": np.array([9])}, 1)
    assert np.isnan(table["boxes"][1]).all() and table["names"][1] == ""


def test_compact_refuses_a_keep_mask_of_another_length():
    with pytest.raises(ValueError, match=r"keep must be \[3\]"):
        table_of(3).compact(np.ones(2, dtype=bool))


def test_a_column_view_writes_into_the_table():
    table = table_of(3)
    table["tokens"][np.array([0, 2])] += 10.0
    assert table["tokens"][:, 0].tolist() == [11.0, 2.0, 13.0]


def test_resize_keeps_the_rows_and_refuses_less_than_them():
    table = table_of(5)
    table.resize(5)
    assert table.capacity == 5
    assert_aligned(table)
    with pytest.raises(ValueError, match="below the 5 rows"):
        table.resize(4)


def test_reshape_refills_one_column_and_leaves_the_others():
    table = table_of(2)
    table.reshape("tokens", (2,))
    assert table["tokens"].tolist() == [[0.0, 0.0], [0.0, 0.0]] and table["ids"].tolist() == [1, 2]


def test_an_unknown_column_is_refused():
    with pytest.raises(KeyError, match="colour"):
        Columns(COLUMNS).append({"colour": np.zeros(1)}, 1)
