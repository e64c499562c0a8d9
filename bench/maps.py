"""Benchmark the review maps in chromium and the vector-tile endpoint on the sample city.

1. Review maps of 1k, 5k and 20k real Harbin OSM road pieces (vertex to vertex, EPSG:32652),
   built by ``maps.web.build_layer_map``: build time, HTML size, and in Debian's chromium
   (playwright, no download) first paint, first contentful paint, load event and the time
   until Leaflet has drawn every feature. Side by side in the same run: the same map with folium's
   default SVG renderer (``preferCanvas`` off), the alternative the canvas renderer replaces.
2. The tile endpoint ``/tiles/{city}/roads/14/{x}/{y}.pbf`` on the sample city (``data/
   harbin.gpkg``, loaded into the project's PostGIS like ``cotrench demo load``): p50 and
   p95 over every z14 tile of the city's roads, cold (no ETag), in-process through the ASGI
   app. Side by side: the same tiles' areas asked of the GeoJSON features endpoint
   (``/layers/{id}/features?bbox=``), the alternative a browser would otherwise load.

Run: ``.venv/bin/python -m bench.maps [--repeats 3] [--write]`` (``--write`` replaces the
``## Maps (issue 8)`` section of BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import http.server
import itertools
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.main import create_app
from geodata.db import database_url
from geodata.db import make_engine
from geodata.importer import load_city_package
from geodata.migrate import upgrade_database
from maps import web

REPO = Path(__file__).resolve().parent.parent
ROADS = Path("/work/shared/data/harbin_osm/harbin_roads.geojson")
SAMPLE_CITY = REPO / "data" / "harbin.gpkg"
BENCH_MD = REPO / "BENCHMARKS.md"
HEADING = "## Maps (issue 8)"
SIZES = (1_000, 5_000, 20_000)
CRS = "EPSG:32652"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# after load: wait two animation frames, then read every timing the page recorded
TIMINGS_JS = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const map = Object.values(window).find(v => v instanceof L.Map);
  let n = 0;
  map.eachLayer(l => { if (l.feature) { n += 1; } });
  done({load: nav.loadEventEnd, drawn: performance.now(), features: n});
})))"""
PAINT_JS = """() => Object.fromEntries(
  performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="page loads per map (median)")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument(
        "--docs", action="store_true", help="also redraw docs/img from the demo application"
    )
    args = parser.parse_args()
    map_rows = bench_review_maps(args.repeats)
    tile_stats = bench_tiles()
    demo = bench_demo_packet(docs=args.docs)
    report = markdown(map_rows, tile_stats, args.repeats) + demo_markdown(demo)
    print(report)
    if args.write:
        write_section(report)


# --- review maps ---------------------------------------------------------------------


def bench_review_maps(repeats: int) -> list[dict[str, Any]]:
    roads = _road_pieces()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cotrench-bench-maps-") as tmp:
        root = Path(tmp)
        (root / "static").symlink_to(REPO / "maps" / "static")
        pages = {}
        for n in SIZES:
            part = roads.head(n)
            for renderer in ("canvas", "svg"):
                t0 = time.perf_counter()
                m = web.build_layer_map({"roads": part})
                if renderer == "svg":
                    m.options["preferCanvas"] = False
                html = m.get_root().render()
                build_s = time.perf_counter() - t0
                name = f"roads_{n}_{renderer}.html"
                (root / name).write_text(html, encoding="utf-8")
                pages[(n, renderer)] = name
                rows.append(
                    {
                        "size": n,
                        "n": len(part),
                        "renderer": renderer,
                        "build_s": build_s,
                        "html_mb": len(html.encode()) / 1e6,
                    }
                )
        with _Serve(root) as base:
            timings = _chromium_timings(base, pages, repeats)
    for row in rows:
        row.update(timings[(row["size"], row["renderer"])])
    return rows


def _road_pieces() -> gpd.GeoDataFrame:
    """Real Harbin OSM roads cut at every vertex: enough features for the 20k map."""
    roads = gpd.read_file(ROADS).to_crs(CRS)
    roads = roads[roads.geom_type == "LineString"].reset_index(drop=True)
    names, classes, pieces = [], [], []
    for name, road_class, line in zip(roads["name"], roads["highway"], roads.geometry, strict=True):
        coords = list(line.coords)
        for a, b in itertools.pairwise(coords):
            names.append(name)
            classes.append(road_class)
            pieces.append(shapely.LineString([a, b]))
    return gpd.GeoDataFrame({"name": names, "road_class": classes}, geometry=pieces, crs=CRS)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class _Serve:
    """Serve a folder over HTTP on a free local port (the pages link /static/...)."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.thread.join()


def _chromium_timings(
    base: str, pages: dict[tuple[int, str], str], repeats: int
) -> dict[tuple[int, str], dict[str, Any]]:
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        for key, name in pages.items():
            runs = []
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(f"{base}/{name}", wait_until="load", timeout=120_000)
                timing = page.evaluate(TIMINGS_JS)
                # paint entries are queued after the frame is presented: wait for them
                page.wait_for_function(
                    "() => performance.getEntriesByType('paint').length >= 2", timeout=60_000
                )
                paint = page.evaluate(PAINT_JS)
                runs.append(
                    {**timing, "fp": paint["first-paint"], "fcp": paint["first-contentful-paint"]}
                )
                context.close()
            out[key] = {
                "fp_ms": statistics.median(r["fp"] for r in runs),
                "fcp_ms": statistics.median(r["fcp"] for r in runs),
                "load_ms": statistics.median(r["load"] for r in runs),
                "drawn_ms": statistics.median(r["drawn"] for r in runs),
                "features_drawn": runs[0]["features"],
            }
        browser.close()
    return out


# --- vector tiles --------------------------------------------------------------------


def bench_tiles() -> dict[str, Any]:
    url = database_url()
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_city_package(session, SAMPLE_CITY)
    with engine.connect() as conn:
        city_id, name = conn.execute(
            text("SELECT id, name FROM cities WHERE name = 'harbin'")
        ).one()
        layer_id = conn.execute(
            text("SELECT id FROM layers WHERE city_id = :c AND kind = 'roads' ORDER BY id LIMIT 1"),
            {"c": city_id},
        ).scalar_one()
        minx, miny, maxx, maxy = conn.execute(
            text(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT "
                "ST_Transform(ST_SetSRID(ST_Extent(geom), min(srid)), 4326) AS b "
                "FROM road_segments WHERE city_id = :c) AS t"
            ),
            {"c": city_id},
        ).one()
        n_roads = conn.execute(
            text("SELECT count(*) FROM road_segments WHERE city_id = :c"), {"c": city_id}
        ).scalar_one()
    z = 14
    x0, y1 = _tile(minx, miny, z)
    x1, y0 = _tile(maxx, maxy, z)
    tiles = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    mvt_ms, geojson_ms, mvt_bytes, geojson_bytes, empty = [], [], [], [], 0
    with TestClient(create_app(engine=engine)) as client:
        client.get(f"/tiles/{name}/roads/{z}/{x0}/{y0}.pbf")  # warm the pool
        for x, y in tiles:
            t0 = time.perf_counter()
            r = client.get(f"/tiles/{name}/roads/{z}/{x}/{y}.pbf")
            mvt_ms.append((time.perf_counter() - t0) * 1000)
            mvt_bytes.append(len(r.content))
            empty += r.status_code == 204
            w, s, e, n = _tile_bounds(x, y, z)
            t0 = time.perf_counter()
            g = client.get(
                f"/layers/{layer_id}/features", params={"bbox": f"{w},{s},{e},{n}", "limit": 10000}
            )
            geojson_ms.append((time.perf_counter() - t0) * 1000)
            geojson_bytes.append(len(g.content))
    engine.dispose()
    return {
        "tiles": len(tiles),
        "empty": empty,
        "roads": n_roads,
        "mvt_p50": _pct(mvt_ms, 50),
        "mvt_p95": _pct(mvt_ms, 95),
        "geojson_p50": _pct(geojson_ms, 50),
        "geojson_p95": _pct(geojson_ms, 95),
        "mvt_kb_mean": statistics.mean(mvt_bytes) / 1e3,
        "geojson_kb_mean": statistics.mean(geojson_bytes) / 1e3,
    }


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def _tile_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    n = 2**z

    def lat(yy: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def _pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    k = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[k]


# --- the demo application's permit packet --------------------------------------------

DEMO_OUT = REPO / "bench" / "out" / "demo"
DOCS_IMG = REPO / "docs" / "img"


def bench_demo_packet(*, docs: bool) -> dict[str, Any]:
    """Make (once) the demo application as ``cotrench demo load`` does; time its permit sheets."""
    from api.approvals.auth import issue_token  # noqa: PLC0415 - the demo only
    from api.approvals.demo import create_demo_applications  # noqa: PLC0415
    from api.approvals.models import User  # noqa: PLC0415
    from api.approvals.seed import DEMO_PASSWORD  # noqa: PLC0415
    from api.approvals.seed import seed_sample_city  # noqa: PLC0415

    url = database_url()
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        seed_sample_city(session, password=DEMO_PASSWORD, city="harbin")
        demo = create_demo_applications(session).main
        acceptor = session.scalars(select(User).where(User.username == "acceptor")).one()
        token, _ = issue_token(session=session, user=acceptor, now=now, ttl_minutes=120)
    app_id = demo.id
    DEMO_OUT.mkdir(parents=True, exist_ok=True)
    with TestClient(create_app(engine=engine)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        times = {}
        for permit_type in ("road_occupation", "tree_felling", "pipeline_attachment"):
            times[permit_type] = _fetch(client, headers, app_id, permit_type)
        times["road_excavation"] = _fetch(client, headers, app_id, "road_excavation")
        t0 = time.perf_counter()
        packet = client.get(f"/permits/applications/{app_id}/packet.zip", headers=headers)
        packet_s = time.perf_counter() - t0
        (DEMO_OUT / f"{demo.number}-packet.zip").write_bytes(packet.content)
    if docs:
        _docs_images(app_id, demo.number, token, engine)
    engine.dispose()
    return {
        "number": demo.number,
        "project": demo.project_name,
        "sheets_s": times,
        "packet_s": packet_s,
    }


def _fetch(client: TestClient, headers: dict[str, str], app_id: int, permit_type: str) -> float:
    t0 = time.perf_counter()
    r = client.get(f"/permits/applications/{app_id}/sheets/{permit_type}.pdf", headers=headers)
    seconds = time.perf_counter() - t0
    r.raise_for_status()
    (DEMO_OUT / f"{permit_type}.pdf").write_bytes(r.content)
    return seconds


def _docs_images(app_id: int, number: str, token: str, engine: Any) -> None:
    """Redraw docs/img: the excavation sheet and the review page of the demo application."""
    from PIL import Image  # noqa: PLC0415 - docs only

    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    prefix = DEMO_OUT / "excavation"
    pdf = DEMO_OUT / "road_excavation.pdf"
    subprocess.run(
        ["pdftoppm", "-r", "75", "-png", "-singlefile", str(pdf), str(prefix)], check=True
    )
    _small_png(Image.open(f"{prefix}.png"), DOCS_IMG / "permit_sheet_excavation.png")
    app = create_app(engine=engine)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
            )
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": "cotrench_token", "value": token, "url": base}])
            page = context.new_page()
            page.goto(f"{base}/workbench/applications/{app_id}", wait_until="networkidle")
            page.frame_locator("#review-map").locator(".cotrench-legend").wait_for()
            shot = DEMO_OUT / "review.png"
            page.screenshot(path=str(shot))
            browser.close()
    finally:
        server.should_exit = True
        thread.join()
    _small_png(Image.open(shot), DOCS_IMG / "review_workbench.png")
    print(f"docs/img redrawn from application {number}")


def _small_png(image: Any, path: Path) -> None:
    # a 128-colour palette keeps the committed pictures well under 300 KB
    image.convert("RGB").quantize(colors=128).save(path, optimize=True)


def demo_markdown(demo: dict[str, Any]) -> str:
    rows = "\n".join(f"| {p} | {s:.2f} |" for p, s in demo["sheets_s"].items())
    return (
        f"\nPermit sheets of the demo application {demo['number']} ({demo['project']}, "
        "synthetic proposals along 宣信街; route = the optimiser's shared-trench plan, which "
        "goes around 宣信街's digging moratorium; made by `cotrench demo load`), rendered "
        "through `/permits/applications/{id}/sheets/{type}.pdf` (context read from PostGIS, "
        "map, cross-section, PDF):\n\n| sheet | seconds |\n|---|---:|\n"
        f"{rows}\n| whole packet (4 sheets PDF + GeoJSON + DXF, zip) | {demo['packet_s']:.2f} |\n"
    )


# --- report --------------------------------------------------------------------------


def markdown(rows: list[dict[str, Any]], tiles: dict[str, Any], repeats: int) -> str:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    lines = [
        HEADING,
        "",
        "Command: `.venv/bin/python -m bench.maps --write` "
        f"(machine: {os.cpu_count()} cores shared, {platform.python_implementation()} "
        f"{platform.python_version()}, Debian {chromium} headless via playwright, "
        f"median of {repeats} page loads).",
        "",
        "Review maps of real Harbin OSM roads cut at every vertex (`maps.web.build_layer_map`, "
        "local Leaflet, canvas renderer) against the same map with folium's default SVG "
        "renderer, same run. "
        "Times in ms from navigation start; *drawn* = every feature added to the map and two "
        "frames painted.",
        "",
        "| features | drawn by Leaflet | renderer | build s | HTML MB | first paint | FCP | load "
        "| drawn | drawn vs SVG |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {(r["size"], r["renderer"]): r for r in rows}
    for r in rows:
        svg = by_key[(r["size"], "svg")]
        ratio = r["drawn_ms"] / svg["drawn_ms"] if svg["drawn_ms"] else float("nan")
        lines.append(
            f"| {r['n']:,} | {r['features_drawn']:,} | {r['renderer']} | {r['build_s']:.2f} | "
            f"{r['html_mb']:.1f} | "
            f"{r['fp_ms']:.0f} | {r['fcp_ms']:.0f} | {r['load_ms']:.0f} | {r['drawn_ms']:.0f} | "
            f"{ratio:.2f}x |"
        )
    lines += [
        "",
        f"Vector tiles at z14 on the sample city (`data/harbin.gpkg`, {tiles['roads']:,} road "
        f"segments): every z14 tile over the roads' extent ({tiles['tiles']} tiles, "
        f"{tiles['empty']} empty -> 204), cold requests through the ASGI app, against the "
        "GeoJSON features endpoint for the same tile areas.",
        "",
        "| endpoint | p50 ms | p95 ms | mean body KB |",
        "|---|---:|---:|---:|",
        f"| `/tiles/harbin/roads/14/x/y.pbf` (ST_AsMVT) | {tiles['mvt_p50']:.1f} | "
        f"{tiles['mvt_p95']:.1f} | {tiles['mvt_kb_mean']:.1f} |",
        f"| `/layers/id/features?bbox=` (GeoJSON) | {tiles['geojson_p50']:.1f} | "
        f"{tiles['geojson_p95']:.1f} | {tiles['geojson_kb_mean']:.1f} |",
        "",
        f"Tiles vs GeoJSON: p50 {tiles['mvt_p50'] / tiles['geojson_p50']:.2f}x, p95 "
        f"{tiles['mvt_p95'] / tiles['geojson_p95']:.2f}x the time, "
        f"{tiles['mvt_kb_mean'] / tiles['geojson_kb_mean']:.2f}x the bytes.",
        "",
        "Differences under about 100 ms are within the run-to-run noise of this shared 2-core "
        "machine. Above `COTRENCH_MAP_MAX_FOLIUM_FEATURES` (20k) a city or layer map opens "
        "the vector-tile page instead (`/workbench/cities/{city}/tiles`, 303).",
        "",
    ]
    return "\n".join(lines)


def write_section(report: str) -> None:
    text_md = BENCH_MD.read_text(encoding="utf-8") if BENCH_MD.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text_md):
        text_md = pattern.sub(lambda _: report + "\n", text_md)
    else:
        text_md = text_md.rstrip("\n") + "\n\n" + report + "\n"
    BENCH_MD.write_text(text_md, encoding="utf-8")


if __name__ == "__main__":
    main()
