"""The node's parameter routing: values as the table reads them, each change validated once, then routed.

Why an object of its own: every change, from any route (`ros2 param set`, a params file, the queries
topic and ~/set_queries, which set `queries`), passes one validation (ros/parameters.changes_problem) and
reaches exactly the parts that read it, each once per set (a route per concern, in the order they were
added). Rows that wait for a transition (DEFERRED) are taken in by the transition and said pending
until then.
"""
from __future__ import annotations

from typing import Any, Callable, Collection, Optional

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter

from ..engine import queries_from_parameter
from ..params import BY_NAME, PARAMETERS
from .parameters import DEFERRED, WHEN, UnknownParameters, changes_problem, plain_value, ros_default, typed_for_table

QueriesProblem = Callable[[dict[str, Any], Callable[[str], Any]], Optional[str]]


class ParameterRouting:
    """Reads the node's parameters and hands each validated change to the routes that asked for its names."""

    def __init__(self, node: Any) -> None:
        self._node = node
        self._routes: list[tuple[frozenset[str], Callable[[], None]]] = []
        self._queries_problem: QueriesProblem = lambda changes, current: None
        self._taken: dict[str, Any] = {}  # the deferred rows' values the node runs with (from `start` on)

    def value(self, name: str) -> Any:
        """A parameter's value as the table's rules read it (`queries`: the list of queries, none as [])."""
        value = self._node.get_parameter(name).value
        if name == "queries":
            return queries_from_parameter(value)
        return plain_value(value)

    def values(self) -> dict[str, Any]:
        """Every row's value (what the settings objects are built from)."""
        return {parameter.name: self.value(parameter.name) for parameter in PARAMETERS}

    def built(self, build: Callable[[dict[str, Any]], Any], names: Collection[str], what: str) -> Any:
        """Settings from the start-up values; values that break a rule between them (min_depth_m above
        max_depth_m) go back to their defaults, said once, so the node starts rather than dying."""
        try:
            return build(self.values())
        except ValueError as error:
            self._node.get_logger().error(
                f"{what} parameters: {error}; using the defaults of {', '.join(sorted(names))}")
            self._node.set_parameters([Parameter(name, value=ros_default(BY_NAME[name])) for name in sorted(names)])
            return build(self.values())

    def start(self, queries_problem: QueriesProblem) -> None:
        """Validate and route every change from now on; `queries_problem` holds the query rules. The deferred
        rows' values are taken in here (after `built` may have reset some), then at their transitions."""
        self._taken = {name: self.value(name) for name in DEFERRED}
        self._queries_problem = queries_problem
        self._node.add_on_set_parameters_callback(self._validate)
        self._node.add_post_set_parameters_callback(self._apply)

    def route(self, names: Collection[str], changed: Callable[[], None]) -> None:
        """Call `changed` once after each successful set that changes any of `names`."""
        self._routes.append((frozenset(names), changed))

    def set_atomically(self, parameters: list[Parameter],
                       rclpy_set: Callable[[list[Parameter]], SetParametersResult]) -> SetParametersResult:
        """The node's set_parameters_atomically (`rclpy_set` is rclpy's), with refusals in the user's terms:
        an unknown name is named (rclpy's text says "undeclared parameter(s): []"), a value of another type
        gets the table's words, a whole number for a double is the double."""
        unknown = [p.name for p in parameters if not self._node.has_parameter(p.name)]
        if unknown:
            raise UnknownParameters(unknown, self._node.list_parameters([], 0).names)
        typed, reason = typed_for_table(parameters)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
        return rclpy_set(typed)

    def _validate(self, parameters: list[Parameter]) -> SetParametersResult:
        """Every change, from any route, is validated here once."""
        changes = {p.name: plain_value(p.value) for p in parameters}
        reason = changes_problem(changes, self.value, self._queries_problem)
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _apply(self, parameters: list[Parameter]) -> None:
        """After a successful set: each route whose names changed, once; deferred rows said pending."""
        names = {p.name for p in parameters}
        for wanted, changed in self._routes:
            if names & wanted:
                changed()
        pending = self.deferred_pending()
        for name in sorted(names & set(pending)):
            self._node.get_logger().warning(f"{name} changed: applies at {WHEN[DEFERRED[name]]}; until then the "
                                            f"node runs with {name} = {self._taken[name]!r}")

    def deferred_pending(self) -> dict[str, str]:
        """Deferred rows set to a value other than the one the node runs with: name -> when it applies."""
        return {name: when for name, when in DEFERRED.items() if self.value(name) != self._taken[name]}

    def take_in(self, when: str) -> None:
        """A transition took in the deferred rows that wait for it."""
        self._taken.update({name: self.value(name) for name, applies in DEFERRED.items() if applies == when})
