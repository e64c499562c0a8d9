"""Place parallel lines across a trench at least width: a small LP (or MILP over free orders)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds
from scipy.optimize import LinearConstraint
from scipy.optimize import linprog
from scipy.optimize import milp

from routing.errors import SectionError

__all__ = ["METHODS", "Placement", "place_lines"]

logger = logging.getLogger(__name__)

METHODS = ("lp", "milp")

# slack allowed when the second stage packs lines left at the optimal width (metres)
_WIDTH_SLACK_M = 1e-9


@dataclass(frozen=True, slots=True)
class Placement:
    """Centre positions from the left wall (m), width between the walls, and the order used."""

    x_m: tuple[float, ...]
    width_m: float
    order: tuple[int, ...]
    method: str


def place_lines(
    rank: Sequence[int],
    separation_m: Mapping[tuple[int, int], float],
    margin_left_m: Sequence[float],
    margin_right_m: Sequence[float],
    *,
    method: str = "lp",
) -> Placement:
    """Find centre positions of least total width meeting every pairwise separation.

    Parameters
    ----------
    rank
        Order key per line (lower = nearer the left wall, the red line). Lines of different
        rank keep that order; with ``method="lp"`` equal ranks keep input order, with
        ``method="milp"`` their order is chosen by the solver.
    separation_m
        Minimum centre-to-centre distance for each pair ``(i, j)``, ``i < j`` (clearance plus
        the two half outside diameters). Pairs not given must only not overlap: pass them.
    margin_left_m, margin_right_m
        Minimum distance from each centre to the left and right wall (half D0 + b1 + b3).

    Returns
    -------
    Placement

    Raises
    ------
    ValueError
        Unknown method, or inconsistent lengths.
    SectionError
        The solver failed (it should not: the problem is always feasible).

    Notes
    -----
    Variables are the centres ``x_i`` and the walls ``L`` (fixed at 0) and ``R``. The LP
    minimises ``R - L`` subject to ``x_j - x_i >= s_ij`` for ordered pairs and the wall
    margins; a second LP at that width minimises ``sum(x)`` so every line sits as near the
    red line as the clearances allow (a canonical, hand-checkable answer). With free orders
    each same-rank pair gets a binary and a big-M disjunction (HiGHS via ``scipy.optimize``).
    """
    n = len(rank)
    if method not in METHODS:
        msg = f"unknown placement method {method!r}; valid: {list(METHODS)}"
        raise ValueError(msg)
    if len(margin_left_m) != n or len(margin_right_m) != n:
        msg = "rank, margin_left_m and margin_right_m must have the same length"
        raise ValueError(msg)
    if n == 0:
        return Placement((), 0.0, (), method)
    fixed, free = _pairs(rank)
    if method == "lp" or not free:
        x, width = _solve_lp(n, fixed, separation_m, margin_left_m, margin_right_m)
        used = "lp"
    else:
        x, width = _solve_milp(
            n, fixed, free, separation_m, left=margin_left_m, right=margin_right_m
        )
        used = "milp"
    order = tuple(sorted(range(n), key=lambda i: (x[i], rank[i], i)))
    return Placement(tuple(float(v) for v in x), float(width), order, used)


def _pairs(rank: Sequence[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Split pairs into fixed-order (first before second) and free-order pairs."""
    n = len(rank)
    fixed: list[tuple[int, int]] = []
    free: list[tuple[int, int]] = []
    for i in range(n):
        for j in range(i + 1, n):
            if rank[i] < rank[j]:
                fixed.append((i, j))
            elif rank[j] < rank[i]:
                fixed.append((j, i))
            else:
                free.append((i, j))
    return fixed, free


def _sep(separation_m: Mapping[tuple[int, int], float], i: int, j: int) -> float:
    key = (i, j) if i < j else (j, i)
    return float(separation_m[key])


def _solve_lp(
    n: int,
    fixed: list[tuple[int, int]],
    separation_m: Mapping[tuple[int, int], float],
    left: Sequence[float],
    right: Sequence[float],
) -> tuple[np.ndarray, float]:
    # variables: x_0..x_{n-1}, R   (L is fixed at 0 by x_i >= left_i)
    # equal-rank pairs keep input order in the LP
    pairs = fixed + [
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if (i, j) not in fixed and (j, i) not in fixed
    ]
    a_ub, b_ub = _order_rows(n, pairs, separation_m, right)
    bounds = [(float(left[i]), None) for i in range(n)] + [(0.0, None)]
    cost = np.zeros(n + 1)
    cost[n] = 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        msg = f"placement LP failed: {res.message}"
        raise SectionError(msg)
    width = float(res.x[n])
    # pack left at the optimal width
    cost2 = np.ones(n + 1)
    cost2[n] = 0.0
    bounds2 = [*bounds[:n], (0.0, width + _WIDTH_SLACK_M)]
    res2 = linprog(cost2, A_ub=a_ub, b_ub=b_ub, bounds=bounds2, method="highs")
    if res2.status != 0:
        msg = f"placement LP (packing stage) failed: {res2.message}"
        raise SectionError(msg)
    return res2.x[:n], max(width, float(np.max(res2.x[:n] + np.asarray(right))))


def _order_rows(
    n: int,
    pairs: list[tuple[int, int]],
    separation_m: Mapping[tuple[int, int], float],
    right: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    rhs = []
    for i, j in pairs:
        # x_i - x_j <= -s_ij
        row = np.zeros(n + 1)
        row[i] = 1.0
        row[j] = -1.0
        rows.append(row)
        rhs.append(-_sep(separation_m, i, j))
    for i in range(n):
        # x_i + right_i - R <= 0
        row = np.zeros(n + 1)
        row[i] = 1.0
        row[n] = -1.0
        rows.append(row)
        rhs.append(-float(right[i]))
    return np.array(rows), np.array(rhs)


def _solve_milp(
    n: int,
    fixed: list[tuple[int, int]],
    free: list[tuple[int, int]],
    separation_m: Mapping[tuple[int, int], float],
    *,
    left: Sequence[float],
    right: Sequence[float],
) -> tuple[np.ndarray, float]:
    # variables: x (n), R, y (one binary per free pair: 1 -> i before j)
    m = len(free)
    nv = n + 1 + m
    constraint = _milp_rows(n, fixed, free, separation_m, left=left, right=right)
    lower = np.array([*(float(v) for v in left), 0.0] + [0.0] * m)
    upper = np.array([np.inf] * (n + 1) + [1.0] * m)
    integrality = np.array([0] * (n + 1) + [1] * m)
    cost = np.zeros(nv)
    cost[n] = 1.0
    res = milp(cost, constraints=constraint, bounds=Bounds(lower, upper), integrality=integrality)
    if res.status != 0 or res.x is None:
        msg = f"placement MILP failed: {res.message}"
        raise SectionError(msg)
    width = float(res.x[n])
    # fix the order found and pack left with the LP stage
    order_pairs = list(fixed)
    for k, (i, j) in enumerate(free):
        order_pairs.append((i, j) if res.x[n + 1 + k] > 0.5 else (j, i))
    a_ub, b_ub = _order_rows(n, order_pairs, separation_m, right)
    cost2 = np.ones(n + 1)
    cost2[n] = 0.0
    bounds2 = [(float(left[i]), None) for i in range(n)] + [(0.0, width + _WIDTH_SLACK_M)]
    res2 = linprog(cost2, A_ub=a_ub, b_ub=b_ub, bounds=bounds2, method="highs")
    if res2.status != 0:
        msg = f"placement LP (packing stage) failed: {res2.message}"
        raise SectionError(msg)
    logger.debug("milp placement: width %.3f m over %d free pairs", width, m)
    return res2.x[:n], max(width, float(np.max(res2.x[:n] + np.asarray(right))))


def _milp_rows(
    n: int,
    fixed: list[tuple[int, int]],
    free: list[tuple[int, int]],
    separation_m: Mapping[tuple[int, int], float],
    *,
    left: Sequence[float],
    right: Sequence[float],
) -> LinearConstraint:
    m = len(free)
    nv = n + 1 + m
    big_m = sum(float(v) for v in separation_m.values()) + sum(left) + sum(right)
    rows = []
    lo = []
    hi = []
    for i, j in fixed:
        row = np.zeros(nv)
        row[j] = 1.0
        row[i] = -1.0
        rows.append(row)
        lo.append(_sep(separation_m, i, j))
        hi.append(np.inf)
    for k, (i, j) in enumerate(free):
        s = _sep(separation_m, i, j)
        # y=1: x_j - x_i >= s ;  y=0: x_i - x_j >= s
        row = np.zeros(nv)
        row[j] = 1.0
        row[i] = -1.0
        row[n + 1 + k] = -big_m
        rows.append(row)
        lo.append(s - big_m)
        hi.append(np.inf)
        row = np.zeros(nv)
        row[i] = 1.0
        row[j] = -1.0
        row[n + 1 + k] = big_m
        rows.append(row)
        lo.append(s)
        hi.append(np.inf)
    for i in range(n):
        row = np.zeros(nv)
        row[n] = 1.0
        row[i] = -1.0
        rows.append(row)
        lo.append(float(right[i]))
        hi.append(np.inf)
    return LinearConstraint(np.array(rows), np.array(lo), np.array(hi))
