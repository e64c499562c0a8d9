"""The independent checker holds its own reference cells; a changed table value fails a test.

The checker (``routing/_check_section.py``) keeps cells typed in from the standards' text. Here
they are compared with the product's tables, and the two escapes of issue 15 are replayed: a
typo in 表4.1.9 (gas medium-A to direct-buried power 0.5 -> 0.3 m) and a trench width that
leaves the formwork b3 of GB 50268 §4.3.2 out.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from routing import _check_section as checker
from routing import sections
from routing import standards as std
from routing._check_section import REFERENCE
from routing._check_section import check_section
from routing._check_section import reference_mismatches
from routing.sections import LineSpec
from routing.sections import TrenchSegment
from routing.sections import cross_section

SNAPSHOT = Path(__file__).parent / "standards_values.txt"


def test_the_checker_holds_25_or_more_cells_of_its_own_and_they_agree_with_the_tables() -> None:
    tables = {k[0] for k in REFERENCE}
    assert len(REFERENCE) >= 25
    assert {"h", "v", "cover", "b1", "slope", "frost"} <= tables
    assert reference_mismatches() == []


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "standards"
    shutil.copytree(std.STANDARDS_DIR, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _clear() -> None:
    std.load_standards.cache_clear()
    checker._rows.cache_clear()
    checker._vocabulary.cache_clear()
    checker._layout.cache_clear()
    checker._geometry.cache_clear()
    sections._section_cached.cache_clear()
    sections._diameter_vocabulary.cache_clear()


@pytest.fixture
def typo_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The repo's tables with one cell of a pair changed, as the product and checker read them."""
    folder = _copy(tmp_path)
    monkeypatch.setattr(std, "STANDARDS_DIR", folder)
    monkeypatch.setattr(checker, "_DIR", folder)
    _clear()
    yield folder
    monkeypatch.undo()
    _clear()


# the first known escape: a typo in the gas row of 表4.1.9
GAS_POWER_ROW = "gas,medium_a,power,direct_buried,0.50,"


def test_a_typo_gas_medium_a_to_direct_buried_power_fails(typo_tables: Path) -> None:
    """0.5 -> 0.3 m in the product's 表4.1.9 row: the comparison names the cell.

    The section itself stays right: GB 50217-2018 表5.3.5 asks 1.0 m from a direct-buried
    cable to a gas pipe, the stricter rule, cited with 表4.1.9. Gas medium-A D0 160, power
    D0 100; order power, gas; x_P = .05 + .30 = .35, x_G = .35 + .05 + .08 + 1.0 = 1.48.
    """
    _edit(typo_tables / "horizontal_clearances.csv", GAS_POWER_ROW, GAS_POWER_ROW[:-5] + "0.30,")
    _clear()
    problems = reference_mismatches()
    assert problems == [
        "h gas/medium_a - power/direct_buried: product 0.3, reference 0.5 "
        "(GB 50289-2016 表4.1.9; GB 50028-2006 表6.3.3-1)"
    ]
    gas = LineSpec("gas", 160, subtype="medium_a", dn_mm=150, label="gas")
    power = LineSpec("power", 100, subtype="direct_buried", label="power")
    sec = cross_section(TrenchSegment("typo", (gas, power), road_width_m=20))
    assert [p.x_m for p in sec.lines] == pytest.approx([1.48, 0.35], abs=1e-6)
    assert check_section(sec) == []


SEWER_GAS_ROW = "sewer_storm,*,gas,medium_a,1.20,"


def test_a_typo_where_table_4_1_9_governs_breaks_the_section_in_the_checker(
    typo_tables: Path,
) -> None:
    """Sewer to gas medium-A 1.2 -> 0.8 m: the product lays 0.8, the checker's own 1.2 fails it.

    Gas medium-A D0 160 (r .08), sewer D0 400 (r .20, concrete flexible joint, b1 .30).
    Order §4.1.3: gas (distribution) then sewer. With the typo x_G = .08 + .30 = .38,
    x_S = .38 + .08 + .20 + 0.8 = 1.46: gap 0.80 m < 1.20 m (表4.1.9; GB 50028 表6.3.3-1).
    """
    _edit(typo_tables / "horizontal_clearances.csv", SEWER_GAS_ROW, SEWER_GAS_ROW[:-5] + "0.80,")
    _clear()
    assert len(reference_mismatches()) == 1
    gas = LineSpec("gas", 160, subtype="medium_a", dn_mm=150, label="gas")
    sewer = LineSpec(
        "drainage", 400, subtype="sewer", material="concrete_flexible_joint", label="sewer"
    )
    sec = cross_section(TrenchSegment("typo", (gas, sewer), road_width_m=20))
    found = check_section(sec)
    assert "pair gas/sewer: cites 0.8, table says 1.2" in found
    assert any(p.startswith("pair gas/sewer: gap 0.8000 < 1.2") for p in found)


@pytest.mark.parametrize(
    ("file", "old", "new", "cell"),
    [
        ("vertical_clearances.csv", "water,*,sewer_storm,*,0.40,", "water,*,sewer_storm,*,0.30,", "v water"),
        ("min_cover_depth.csv", "gas,*,motor_lane,0.90,", "gas,*,motor_lane,0.70,", "cover gas"),
        ("trench_geometry.yaml", "{d0_max_mm: 500,  values: [400, 300, 300]}", "{d0_max_mm: 500,  values: [400, 300, 250]}", "b1 metal_or_plastic/500"),
        ("trench_geometry.yaml", "stiff_silty_clay_or_clay: [0.33, 0.50, 0.67]", "stiff_silty_clay_or_clay: [0.33, 0.50, 0.50]", "slope stiff_silty_clay_or_clay/dynamic"),
        ("layout_rules.yaml", "value_m: 0.15", "value_m: 0.10", "frost water"),
    ],
)  # fmt: skip
def test_a_changed_cell_in_each_kind_of_table_is_named(
    typo_tables: Path, file: str, old: str, new: str, cell: str
) -> None:
    _edit(typo_tables / file, old, new)
    _clear()
    problems = reference_mismatches()
    assert len(problems) == 1
    assert problems[0].startswith(cell)


def test_leaving_formwork_b3_out_of_the_trench_width_fails() -> None:
    """A cast-in-place concrete conduit with 100 mm formwork each side (b3, GB 50268 §4.3.2).

    Telecom duct bank D0 400, b1 = 0.3 (D0 <= 500, metal/plastic), b3 = 0.1:
    B = 0.4 + 2 (0.3 + 0 + 0.1) = 1.2 m; the centre is 0.6 m from each wall.
    A product that forgot b3 would draw B = 0.4 + 2 x 0.3 = 1.0 m.
    """
    duct = LineSpec("telecom", 400, subtype="duct", formwork_mm=100, label="duct")
    sec = cross_section(TrenchSegment("b3", (duct,), road_width_m=20))
    assert sec.bottom_width_m == pytest.approx(1.2, abs=1e-9)
    assert check_section(sec) == []
    forgot = cross_section(
        TrenchSegment("b3", (dataclasses.replace(duct, formwork_mm=0.0),), road_width_m=20)
    )
    assert forgot.bottom_width_m == pytest.approx(1.0, abs=1e-9)
    lines = tuple(dataclasses.replace(p, spec=duct) for p in forgot.lines)
    found = check_section(dataclasses.replace(forgot, lines=lines))
    assert found == ["duct: 0.3000 m to the wall < b1 0.3 + b3 0.1 (GB 50268-2008 §4.3.2)"]


# -- a changed value in any standards table fails a test ----------------------------------------


def _leaves(prefix: str, node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(f"{prefix}.{k}", v)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(f"{prefix}[{i}]", v)
    elif isinstance(node, bool):
        yield f"{prefix}={node}"
    elif isinstance(node, int | float):
        yield f"{prefix}={node:g}"


def standards_values(folder: Path = std.STANDARDS_DIR) -> list[str]:
    """Every number in every standards table, one ``file:row-key=value`` line each."""
    out: list[str] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                key = ",".join(
                    v
                    for k, v in row.items()
                    if k
                    and v
                    and not _is_number(v)
                    and k
                    not in ("condition", "source_clause", "verification", "note", "basis_note")
                )
                for k, v in row.items():
                    if k and v and _is_number(v):
                        out.append(f"{path.name}:{key}:{k}={float(v):g}")
    for path in sorted(folder.glob("*.yaml")):
        out.extend(_leaves(path.name, yaml.safe_load(path.read_text(encoding="utf-8"))))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_every_number_of_every_standards_table_is_as_reviewed() -> None:
    """A changed, added or lost number in any table fails here with the cell named.

    Change a standards value only with its source, then refresh the snapshot:
    ``.venv/bin/python -m tests.routing.test_check_section``.
    """
    now = standards_values()
    before = SNAPSHOT.read_text(encoding="utf-8").splitlines()
    assert len(now) > 500
    assert sorted(set(now) - set(before)) == []
    assert sorted(set(before) - set(now)) == []


def test_the_snapshot_test_sees_a_changed_cell(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder / "tree_clearances.csv", "1.5,", "1.4,")
    changed = set(standards_values(folder)) ^ set(standards_values())
    assert len(changed) == 2


if __name__ == "__main__":
    SNAPSHOT.write_text("\n".join(standards_values()) + "\n", encoding="utf-8")
