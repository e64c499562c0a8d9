"""Benchmark the district-year class of the shared-trench optimiser (issue 16).

Run: ``.venv/bin/python -m bench.trench_district_year`` (a few minutes on 2 cores); the same as
``python -m bench.trench --district-year --seeds 1 --time-limit 60 --app-time-limit 10``, here
so that ``make bench`` (every module of ``bench/``) runs it too. One district's applications
of a year (:func:`bench.trench.make_district_year`) as one joint plan, exact and heuristic,
per group of overlapping windows, and each alone; the saving of the joint plan against the
per-application plans.
"""

from __future__ import annotations

import argparse
import logging

import networkx as nx
import numpy as np

from bench.trench import ON_DATE
from bench.trench import load_harbin
from bench.trench import run_district_year
from routing import trench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--app-time-limit", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    G = load_harbin()  # noqa: N806
    G = G.subgraph(max(nx.connected_components(G), key=len)).copy()  # noqa: N806
    net = trench.prepare_network(G, on_date=ON_DATE)
    nodes = list(G.nodes)
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes])
    run_district_year(G, net, nodes, xy, args.seeds, args.time_limit, args.app_time_limit)


if __name__ == "__main__":
    main()
