from __future__ import annotations

from pathlib import Path

import pytest

from geodata.errors import UnknownUtilityError
from geodata.utilities import OTHER
from geodata.utilities import UTILITIES
from geodata.utilities import classify_utility
from geodata.utilities import default_vocabulary
from geodata.utilities import load_vocabulary

# (value as delivered, utility, subtype): checked against CJJ 61's code table by hand
SURVEY_VALUES = [
    ("JS", "water", None),
    ("JS给水", "water", None),
    ("JS_给水", "water", None),
    ("js-给水管线", "water", None),
    ("给水(JS)", "water", None),
    ("PS排水", "drainage", None),
    ("YS", "drainage", "storm"),
    ("YS雨水", "drainage", "storm"),
    ("雨水", "drainage", "storm"),
    ("PS雨水", "drainage", "storm"),
    ("WS污水", "drainage", "sewer"),
    ("污水管", "drainage", "sewer"),
    ("RQ燃气", "gas", None),
    ("RQ", "gas", None),
    ("RL热力", "heat", None),
    ("DL", "power", None),
    ("DL_电力", "power", None),
    ("DX电信", "telecom", None),
    ("通信", "telecom", None),
    ("电信/通信", "telecom", None),
    ("中水", "water", "reclaimed"),
    ("再生水", "water", "reclaimed"),
    ("LD路灯", OTHER, "street_lighting"),
    ("XH信号", OTHER, "traffic_signal"),
    ("工业", OTHER, "industrial"),
    ("不明", OTHER, "unknown"),
]


@pytest.mark.parametrize(("value", "utility", "subtype"), SURVEY_VALUES)
def test_survey_codes_and_names_classify(value: str, utility: str, subtype: str | None) -> None:
    term = classify_utility(value)
    assert (term.utility, term.subtype) == (utility, subtype)
    assert term.planned == (utility in UTILITIES)


def test_storm_and_sewer_stay_distinct() -> None:
    storm, sewer = classify_utility("YS雨水"), classify_utility("WS污水")
    assert storm.utility == sewer.utility == "drainage"
    assert storm.subtype != sewer.subtype


def test_every_term_has_chinese_and_english_names() -> None:
    for term, _ in default_vocabulary().rows:
        assert term.name_zh
        assert term.name_en
        assert term.name_zh.isascii() is False


def test_code_and_name_that_disagree_are_refused_with_both() -> None:
    with pytest.raises(UnknownUtilityError, match=r"code JS \(给水\) and name 燃气 disagree"):
        classify_utility("JS燃气")


@pytest.mark.parametrize("value", ["消雪", "QQ", "oil", "管", "JSX给水"])
def test_unknown_values_are_refused_naming_the_codes(value: str) -> None:
    with pytest.raises(UnknownUtilityError, match="survey code such as JS"):
        classify_utility(value)


def test_a_city_extends_the_vocabulary(tmp_path: Path) -> None:
    extra = tmp_path / "city.csv"
    extra.write_text(
        "code,utility,subtype,name_zh,name_en,aliases\n"
        "XS,drainage,snowmelt,消雪,snow melting,融雪|snow_melting\n",
        encoding="utf-8",
    )
    vocabulary = load_vocabulary(extra)
    assert vocabulary.classify("XS消雪").subtype == "snowmelt"
    assert vocabulary.classify("融雪").utility == "drainage"
    assert vocabulary.classify("JS给水").utility == "water"  # the built-in rows stay
    with pytest.raises(UnknownUtilityError):
        classify_utility("融雪")  # the default vocabulary is not changed


def test_a_city_row_giving_a_spelling_two_meanings_is_refused(tmp_path: Path) -> None:
    extra = tmp_path / "city.csv"
    extra.write_text(
        "code,utility,subtype,name_zh,name_en,aliases\nXS,drainage,,消雪,snow melting,雨水\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="'雨水' means both"):
        load_vocabulary(extra)


def test_a_city_row_with_an_unknown_utility_is_refused(tmp_path: Path) -> None:
    extra = tmp_path / "city.csv"
    extra.write_text(
        "code,utility,subtype,name_zh,name_en,aliases\nYG,oil,,输油,oil,\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"line 2: utility 'oil' is none of"):
        load_vocabulary(extra)
