"""Errors raised by the routing package."""

from __future__ import annotations

__all__ = [
    "CostModelError",
    "InvalidGraphError",
    "NoRouteError",
    "ProposalError",
    "RoadLayerError",
    "RoutingError",
    "SectionError",
    "StandardsError",
    "TrenchRequestError",
    "UnreachableSupplyError",
]


class RoutingError(Exception):
    """Base class of every routing error."""


class StandardsError(RoutingError):
    """A standards table is missing or malformed (names file, row and column)."""


class SectionError(RoutingError, ValueError):
    """Bad input to the cross-section or quantity calculation (names the segment and line)."""


class InvalidGraphError(RoutingError, ValueError):
    """The road graph lacks what a function needs (CRS, node coordinates, edge lengths)."""


class NoRouteError(RoutingError, ValueError):
    """No trench can reach a site (every road at it is forbidden, or it is cut off)."""


class UnreachableSupplyError(NoRouteError):
    """None of a utility's supply points can reach one of its sites; ``utility`` names it."""

    def __init__(self, message: str, *, utility: str) -> None:
        super().__init__(message)
        self.utility = utility


class TrenchRequestError(RoutingError, ValueError):
    """A trench planning request is malformed (unknown node, utility without supply...)."""


class CostModelError(RoutingError, ValueError):
    """The cost model file is missing a price or names an unknown utility."""


class RoadLayerError(RoutingError, ValueError):
    """A road or bridge layer cannot be used (CRS mismatch, missing defaults table)."""


class ProposalError(RoutingError, ValueError):
    """A proposed line is unusable (far from any road, self-intersecting, bad dates).

    ``detail`` lists every problem as ``{"feature": ..., "problem": ...}``.
    """

    def __init__(self, message: str, *, detail: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.detail = detail or []
