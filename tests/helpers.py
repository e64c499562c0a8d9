"""Shared test helpers: the committed sample area and geometry asserters."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image

__all__ = ["SAMPLE_LAYERS", "assert_same_geometries", "read_sample", "sample_path"]

TEST_DATA = Path(__file__).resolve().parent / "data"
SAMPLE_AREA = TEST_DATA / "sample_area.gpkg"

# layers of tests/data/sample_area.gpkg (made by data/make_sample.py): a block of central
# Harbin (OSM, EPSG:4326) with SYNTHETIC proposals and bridge areas in EPSG:32652, plus real
# Nagaoka underground lines (PLATEAU, EPSG:6676)
SAMPLE_LAYERS = ("city", "roads", "trees", "proposed_lines", "protected_areas", "nagaoka_lines")


def sample_path(name: str) -> Path:
    """Return the GeoPackage that holds sample layer ``name`` (read it with ``layer=name``)."""
    if name not in SAMPLE_LAYERS:
        msg = f"no sample layer {name!r}; the layers are {', '.join(SAMPLE_LAYERS)}"
        raise KeyError(msg)
    return SAMPLE_AREA


def read_sample(name: str) -> gpd.GeoDataFrame:
    """Read one sample layer as a GeoDataFrame in its stored CRS."""
    return gpd.read_file(sample_path(name), layer=name)


def assert_same_geometries(
    left: gpd.GeoSeries | gpd.GeoDataFrame,
    right: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    tolerance: float = 0.0,
) -> None:
    """Assert two geometry sequences are equal pairwise, within ``tolerance`` (CRS units)."""
    a = left.geometry.to_numpy() if hasattr(left, "geometry") else left.to_numpy()
    b = right.geometry.to_numpy() if hasattr(right, "geometry") else right.to_numpy()
    assert len(a) == len(b), f"{len(a)} geometries != {len(b)}"
    same = shapely.equals_exact(a, b, tolerance=tolerance)
    bad = [i for i, ok in enumerate(same) if not ok]
    assert not bad, (
        f"{len(bad)} geometries differ, first at index {bad[0]}: {a[bad[0]]} != {b[bad[0]]}"
    )


def assert_pdf_pages_drawn(pdf: Path, out_dir: Path, *, pages: int, dpi: int = 40) -> None:
    """Render ``pdf`` with pdftoppm and check each page is drawn: ink, contrast and colour.

    A page counts as drawn when 1-50 % of it is ink, its grey levels spread (std > 20) and
    some coloured line is on it (a map or section, not only black text).
    """
    prefix = out_dir / pdf.stem
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(prefix)], check=True)
    pngs = sorted(out_dir.glob(pdf.stem + "-*.png"))
    assert len(pngs) == pages, f"{pdf.name}: {len(pngs)} pages, expected {pages}"
    for png in pngs:
        grey = np.asarray(Image.open(png).convert("L"), dtype=float)
        ink = (grey < 200).mean()
        assert 0.01 < ink < 0.5, f"{png.name}: {ink:.3%} of the page is ink"
        assert grey.std() > 20, f"{png.name}: no contrast"
        colour = np.asarray(Image.open(png).convert("RGB"), dtype=int)
        assert (np.ptp(colour, axis=2) > 60).mean() > 0.0005, f"{png.name}: no coloured line"


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The text of a PDF as ``pdftotext`` (poppler-utils) reads it back."""
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True)
    return out.stdout


def printed_number(text: str, label: str) -> float:
    """The number printed after ``label`` (a quantities-table row) on a page or a sheet.

    Finds it in pdftotext output (label, then the value) and in the review page's table
    (``<th>label</th><td>value unit</td>``).
    """
    pattern = re.escape(label) + r"\s*(?:</th>\s*<td[^>]*>)?\s*(-?[\d,]+\.\d+)"
    match = re.search(pattern, text)
    assert match is not None, f"{label!r} not printed"
    return float(match.group(1).replace(",", ""))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any, name: str) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free port; yield its base URL."""
    import uvicorn  # noqa: PLC0415 - only the tests that need a real server pay for it

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"uvicorn did not start ({name})")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
