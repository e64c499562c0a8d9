from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy import text

from api.main import create_app
from api.routes.tiles import MVT_MEDIA_TYPE
from tests.conftest import Users
from tests.maps.sample import StoredCity
from tests.maps.sample import store_city

pytestmark = pytest.mark.db

# the middle of the sample area (central Harbin)
LON, LAT = 126.661, 45.743


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """Walk a protobuf message: (field number, wire type, value)."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
            yield number, wire, value
        elif wire == 2:
            size, i = read_varint(buf, i)
            yield number, wire, buf[i : i + size]
            i += size
        elif wire == 5:
            yield number, wire, buf[i : i + 4]
            i += 4
        elif wire == 1:
            yield number, wire, buf[i : i + 8]
            i += 8
        else:  # pragma: no cover - MVT uses no other wire type
            raise AssertionError(f"unexpected wire type {wire}")


def decode_layers(tile: bytes) -> dict[str, dict[str, object]]:
    """Layer name -> feature count, keys and extent (vector tile spec 2.1)."""
    out: dict[str, dict[str, object]] = {}
    for number, _, layer in fields(tile):
        assert number == 3, "a tile holds only layers"
        assert isinstance(layer, bytes)
        name, n_features, keys, extent = "", 0, [], 4096
        for f, _, v in fields(layer):
            if f == 1:
                name = v.decode()  # type: ignore[union-attr]
            elif f == 2:
                n_features += 1
            elif f == 3:
                keys.append(v.decode())  # type: ignore[union-attr]
            elif f == 5:
                extent = v  # type: ignore[assignment]
        out[name] = {"features": n_features, "keys": keys, "extent": extent}
    return out


@pytest.fixture
def city(connection: Connection) -> StoredCity:
    return store_city(connection)


@pytest.fixture
def client(connection: Connection, city: StoredCity, users: Users) -> Iterator[TestClient]:
    """A reviewer of the city (tiles are per city and role)."""
    # the app shares the test's rolled-back connection, so nothing stays behind
    app = create_app(engine=connection)  # type: ignore[arg-type]
    with TestClient(app, headers=users.headers("auditor", city=city.name)) as c:
        yield c


def expected_count(conn: Connection, city_id: int, table: str, *, z: int, x: int, y: int) -> int:
    """Features within the tile plus its buffer, counted independently in 3857."""
    return conn.execute(
        text(
            f"SELECT count(*) FROM {table} WHERE city_id = :c AND ST_Intersects("
            "ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096))"
        ),
        {"c": city_id, "z": z, "x": x, "y": y},
    ).scalar_one()


def test_z14_tile_holds_every_road_of_the_tile(
    client: TestClient, city: StoredCity, connection: Connection
) -> None:
    x, y = tile_of(LON, LAT, 14)
    response = client.get(f"/tiles/{city.name}/roads/14/{x}/{y}.pbf")
    assert response.status_code == 200
    assert response.headers["content-type"] == MVT_MEDIA_TYPE
    # the tiles hold a city's underground lines: cached by the browser only, never shared
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert response.headers["etag"].startswith('"')
    layers = decode_layers(response.content)
    assert list(layers) == ["roads"]
    want = expected_count(connection, city.city_id, "road_segments", z=14, x=x, y=y)
    assert want > 20
    assert layers["roads"]["features"] == want
    assert {"source_id", "name", "road_class"} <= set(layers["roads"]["keys"])  # type: ignore[arg-type]


def test_tiles_of_other_kinds_and_city_id(
    client: TestClient, city: StoredCity, connection: Connection
) -> None:
    lon, lat = connection.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(geom, 4326) AS p FROM trees "
            "WHERE city_id = :c ORDER BY id LIMIT 1) AS t"
        ),
        {"c": city.city_id},
    ).one()
    tx, ty = tile_of(lon, lat, 14)
    trees = client.get(f"/tiles/{city.city_id}/trees/14/{tx}/{ty}.pbf")
    assert trees.status_code == 200
    want = expected_count(connection, city.city_id, "trees", z=14, x=tx, y=ty)
    assert decode_layers(trees.content)["trees"]["features"] == want > 0
    x, y = tile_of(LON, LAT, 14)
    proposed = client.get(f"/tiles/{city.name}/proposed_lines/14/{x}/{y}.pbf")
    assert proposed.status_code == 200
    assert "utility" in decode_layers(proposed.content)["proposed_lines"]["keys"]  # type: ignore[operator]


def test_tile_with_nothing_is_204(client: TestClient, city: StoredCity) -> None:
    x, y = tile_of(0.0, 0.0, 14)
    response = client.get(f"/tiles/{city.name}/roads/14/{x}/{y}.pbf")
    assert response.status_code == 204
    assert response.content == b""
    assert "etag" in response.headers


def test_etag_gives_304_until_a_layer_changes(
    client: TestClient, city: StoredCity, connection: Connection
) -> None:
    x, y = tile_of(LON, LAT, 14)
    url = f"/tiles/{city.name}/roads/14/{x}/{y}.pbf"
    etag = client.get(url).headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get(f"/tiles/{city.name}/roads/14/{x + 1}/{y}.pbf").headers["etag"]
    assert other != etag
    connection.execute(
        text(
            "INSERT INTO layers (city_id, kind, name, source_file, source_format, source_crs, "
            "feature_count) VALUES (:c, 'roads', 'more', 'x.gpkg', 'GPKG', 'EPSG:4326', 0)"
        ),
        {"c": city.city_id},
    )
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/tiles/{city}/rivers/14/0/0.pbf", 404, "unknown layer kind"),
        ("/tiles/no_such_city/roads/14/0/0.pbf", 404, "no city"),
        ("/tiles/{city}/roads/3/8/0.pbf", 404, "outside the grid"),
        ("/tiles/{city}/roads/23/0/0.pbf", 422, "less than or equal"),
        ("/tiles/{city}/roads/14/-1/0.pbf", 422, "greater than or equal"),
    ],
)
def test_bad_tile_requests(
    *, client: TestClient, users: Users, city: StoredCity, path: str, status: int, words: str
) -> None:
    url = path.format(city=city.name)
    # a reviewer of the city in the path (an unknown city: one of that name)
    response = client.get(url, headers=users.headers("auditor", city=url.split("/")[2]))
    assert response.status_code == status
    assert words in response.text


def test_head_on_a_tile_gives_the_headers_without_the_body(
    client: TestClient, city: StoredCity
) -> None:
    x, y = tile_of(LON, LAT, 14)
    url = f"/tiles/{city.name}/roads/14/{x}/{y}.pbf"
    head = client.head(url)
    got = client.get(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-type"] == MVT_MEDIA_TYPE


def test_tilejson_per_city_and_kind(client: TestClient, city: StoredCity) -> None:
    response = client.get(f"/tiles/{city.name}/underground_lines.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["tilejson"] == "3.0.0"
    (template,) = doc["tiles"]
    assert template.endswith(f"/tiles/{city.name}/underground_lines/{{z}}/{{x}}/{{y}}.pbf")
    west, south, east, north = doc["bounds"]
    assert west < LON < east
    assert south < LAT < north
    (layer,) = doc["vector_layers"]
    assert layer["id"] == "underground_lines"
    assert layer["fields"]["utility"] == "String"
    assert layer["fields"]["diameter_mm"] == "Number"
    assert client.get(f"/tiles/{city.name}/pipes.json").status_code == 404
