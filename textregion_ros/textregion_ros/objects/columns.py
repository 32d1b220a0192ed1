"""Columns: per-row numpy arrays declared once (one row per track or remembered object).

The tracker's open tracks and the object memory's records are tables of parallel arrays, so that
association and search are array work. Each table declares its columns once (name, dtype, trailing
shape, fill value); Columns keeps them aligned through every change:

- `append(values)` adds rows at the end (columns not given get their fill value), growing the
  capacity by doubling, so appending a frame's rows does not copy the table each time;
- `take(rows)` copies some rows of every column (a snapshot, the rows of an answer);
- `compact(keep)` drops rows. stable=True keeps the order of the rows kept (the tracker: its rows stay
  in opening order); stable=False moves the last rows into the holes (the memory: the fewest moves,
  so the fewest changes to its id -> row index), and says which rows moved where.

`table[name]` is the column's rows 0..n-1, a view: writing into it writes the table. A trailing
dimension declared None (a token's size, a mask's words) is taken from the first rows appended to an
empty table, or set with reshape(). Everything is vectorised; no loop runs over rows.
ROS-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np

MIN_CAPACITY = 16
Rows = Union[np.ndarray, slice]  # row indices or a bool mask over the rows


@dataclass(frozen=True)
class Column:
    """One per-row array: its dtype, the shape of one row (None = set by the data) and its fill value."""

    dtype: Any
    shape: tuple[Optional[int], ...] = ()
    fill: Any = 0


class Columns:
    """Rows of aligned numpy arrays, one per declared column (see the module docstring)."""

    def __init__(self, columns: Mapping[str, Column]) -> None:
        if not columns:
            raise ValueError("a table needs at least one column")
        self.columns = dict(columns)
        self._count = 0
        self._arrays: dict[str, np.ndarray] = {}
        self._trailing = {name: tuple(0 if n is None else n for n in column.shape)
                          for name, column in self.columns.items()}
        self._allocate(0)

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return int(next(iter(self._arrays.values())).shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        """Column `name`, rows 0..n-1 (a view)."""
        return self._arrays[name][:self._count]

    def trailing_shape(self, name: str) -> tuple[int, ...]:
        """The shape of one row of column `name`."""
        return self._trailing[name]

    def take(self, rows: Rows, names: Optional[Iterable[str]] = None) -> dict[str, np.ndarray]:
        """Copies of these rows (indices, a bool mask over the rows or a slice) of every column, or of
        the columns `names`."""
        chosen = self._arrays if names is None else {name: self._arrays[name] for name in names}
        if isinstance(rows, slice):  # basic slicing gives views: copy them
            return {name: array[:self._count][rows].copy() for name, array in chosen.items()}
        return {name: array[:self._count][rows] for name, array in chosen.items()}

    # -- changing -----------------------------------------------------------------------------------
    def append(self, values: Mapping[str, Any], count: int) -> np.ndarray:
        """Add `count` rows; values[name] is [count, *row shape] or broadcasts to it (a scalar for all
        rows); columns not given get their fill value. Returns the new rows' indices."""
        unknown = set(values) - set(self.columns)
        if unknown:
            raise KeyError(f"no such columns: {sorted(unknown)}")
        if self._count == 0:  # an empty table takes the free dimensions from the data
            for name, value in values.items():
                declared = self.columns[name].shape
                if None in declared:
                    given = np.shape(value)[1:]
                    if len(given) != len(declared):
                        raise ValueError(f"column {name} takes rows of {len(declared)} dimensions, got {given}")
                    self.reshape(name, tuple(g if d is None else d for g, d in zip(given, declared)))
        start, stop = self._count, self._count + count
        if stop > self.capacity:
            self.resize(max(stop, 2 * self.capacity, MIN_CAPACITY))
        for name, array in self._arrays.items():
            array[start:stop] = values[name] if name in values else self.columns[name].fill
        self._count = stop
        return np.arange(start, stop)

    def compact(self, keep: np.ndarray, stable: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Drop the rows where `keep` (bool [n]) is False. Returns (moved_from, moved_to): the rows kept
        that changed index (stable: every kept row after the first hole; else the last rows that
        filled the holes)."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self._count,):
            raise ValueError(f"keep must be [{self._count}] bool, got shape {keep.shape}")
        new_count = int(keep.sum())
        if stable:
            kept = np.flatnonzero(keep)
            moved = kept != np.arange(new_count)
            moved_from, moved_to = kept[moved], np.flatnonzero(moved)
        else:
            moved_to = np.flatnonzero(~keep[:new_count])  # the holes below the new end
            moved_from = np.flatnonzero(keep[new_count:]) + new_count  # the kept rows beyond it
        for array in self._arrays.values():  # the rows beyond the new end are refilled by append()
            array[moved_to] = array[moved_from]
        self._count = new_count
        return moved_from, moved_to

    def clear(self) -> None:
        """No rows (the capacity stays)."""
        self.compact(np.zeros(self._count, dtype=bool))

    def resize(self, capacity: int) -> None:
        """Reallocate every column to `capacity` rows (at least the rows there are), keeping the rows."""
        if capacity < self._count:
            raise ValueError(f"capacity {capacity} is below the {self._count} rows")
        old = self._arrays
        self._allocate(capacity)
        for name, array in old.items():
            self._arrays[name][:self._count] = array[:self._count]

    def reshape(self, name: str, shape: tuple[int, ...]) -> None:
        """Give column `name` another row shape; every row of it is refilled with its fill value
        (e.g. the masks when their grid changed: the old ones cannot be compared any more)."""
        self._trailing[name] = tuple(shape)
        column = self.columns[name]
        self._arrays[name] = np.full((self.capacity, *shape), column.fill, dtype=column.dtype)

    # -- storage ------------------------------------------------------------------------------------
    def _allocate(self, capacity: int) -> None:
        self._arrays = {name: np.full((capacity, *self._trailing[name]), column.fill, dtype=column.dtype)
                        for name, column in self.columns.items()}
