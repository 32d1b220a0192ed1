"""Label values that stay with their class while the query list changes.

Why: a class's position in the query list is a poor label value. Nav2's semantic_segmentation_layer
(and any other consumer that stores raw class ids) keeps the ids it read from the label image in
its costmap tiles until they decay (`tile_map_decay_time`); it re-reads LabelInfo when the node
republishes it, but the ids already stored are not rewritten. If "person" were 1 and someone added
a query in front of it, a tile that saw a person a second ago would suddenly be costed as whatever
class now owns 1. StableClassIds gives each class one value for the object's lifetime, so a stored
id means the same class until the store forgets it.

ROS-free: the node keeps one table and passes its values to the label image and LabelInfo
(encodings.label_array / conversions.label_info), and tests fill a small table without ROS.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

# Values 0..65534 fit a mono16 label image whose 65535 means unlabeled (VisionClass.class_id is
# uint16 too), so that is the most classes one table can name at once.
MAX_CAPACITY = 65535


class StableClassIds:
    """Class name -> label value, stable for the lifetime of the object.

    Rules, in the order they apply:
      - a class that already has a value keeps it, whether it is in the current set or was
        dropped earlier (a dropped class's value stays reserved for it, so a class that comes
        back gets its old value back and a consumer's stale tiles still mean the same thing);
      - a new class takes the lowest value never handed out;
      - only when no never-used value is left is a dropped class forgotten and its value given to
        the new class, least recently used first: the dropped class whose last assign() call is
        oldest goes first (classes dropped by the same call go in the order of the list they were
        dropped from). By then consumers have most likely forgotten the old meaning.
    Classes of the current set are never forgotten, so a current set larger than the capacity
    is refused. Classes are matched by their exact text: the node passes its validated,
    whitespace-normalised query strings, so "floor; ground" and "floor;ground" are two classes.

    Not thread-safe: the node calls it under its own lock.
    """

    def __init__(self, capacity: int = MAX_CAPACITY) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise ValueError(f"capacity must be an int, got {type(capacity).__name__}")
        if not 1 <= capacity <= MAX_CAPACITY:
            raise ValueError(f"capacity must be in [1, {MAX_CAPACITY}] (label values 0..capacity-1 must fit a "
                             f"mono16 image whose {MAX_CAPACITY} is unlabeled), got {capacity}")
        self._capacity = capacity
        self._values: dict[str, int] = {}
        self._current: tuple[str, ...] = ()
        # Dropped classes that still hold their value, least recently used first.
        self._reserved: OrderedDict[str, None] = OrderedDict()
        # Values are handed out lowest first and reused only once all are out, so the never-used
        # values are exactly [self._next_fresh, capacity).
        self._next_fresh = 0

    @property
    def capacity(self) -> int:
        """How many values (0..capacity-1) the table hands out."""
        return self._capacity

    @property
    def current(self) -> tuple[str, ...]:
        """The classes of the last assign() call, in its order."""
        return self._current

    @property
    def reserved(self) -> tuple[str, ...]:
        """Dropped classes still holding their value, least recently used (first to go) first."""
        return tuple(self._reserved)

    def __len__(self) -> int:
        """Classes holding a value: the current ones plus the reserved ones."""
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def assign(self, classes: Sequence[str]) -> tuple[int, ...]:
        """Make `classes` the current set and return each one's label value, in their order.

        Raises ValueError (leaving the table unchanged) for a single string instead of a
        sequence, a non-string item, a class listed twice (two classes cannot share a value),
        or more classes than the capacity.
        """
        names = self._checked(classes)
        if len(names) > self._capacity:
            raise ValueError(f"{len(names)} classes at once, but only {self._capacity} label values exist "
                             f"(0..{self._capacity - 1}); current classes are never evicted")
        wanted = set(names)
        for name in self._current:  # dropped now: their last use is the previous call, newer than any reserved
            if name not in wanted:
                self._reserved[name] = None
        for name in names:
            self._reserved.pop(name, None)
        for name in names:
            if name not in self._values:
                self._values[name] = self._free_value()
        self._current = names
        return tuple(self._values[name] for name in names)

    def values_of(self, classes: Sequence[str]) -> tuple[int, ...]:
        """The values of `classes` (current or reserved) without changing anything.

        Raises KeyError naming the first class that holds no value.
        """
        names = self._checked(classes, allow_duplicates=True)
        missing = next((name for name in names if name not in self._values), None)
        if missing is not None:
            raise KeyError(f"class {missing!r} holds no label value")
        return tuple(self._values[name] for name in names)

    def _free_value(self) -> int:
        """The lowest never-used value, else the least recently used reserved class's value.

        Never fails inside assign(): once every value is out, the classes of the new set that
        hold one are fewer than the capacity (the set is at most the capacity and the class
        asking holds none), so some reserved class holds one.
        """
        if self._next_fresh < self._capacity:
            value = self._next_fresh
            self._next_fresh += 1
            return value
        evicted, _ = self._reserved.popitem(last=False)
        return self._values.pop(evicted)

    @staticmethod
    def _checked(classes: Sequence[str], allow_duplicates: bool = False) -> tuple[str, ...]:
        if isinstance(classes, str):
            raise ValueError("classes must be a sequence of class names, not one string")
        names = tuple(classes)
        for index, name in enumerate(names):
            if not isinstance(name, str):
                raise ValueError(f"class {index + 1} is a {type(name).__name__}, not a string")
        if not allow_duplicates:
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"class {name!r} is listed twice; each class needs its own label value")
                seen.add(name)
        return names
