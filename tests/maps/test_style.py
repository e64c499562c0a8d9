from __future__ import annotations

import re

import pytest

from maps import style

HEX = re.compile(r"^#[0-9a-f]{6}$")


def test_one_distinct_colour_per_utility() -> None:
    assert set(style.UTILITY_COLOURS) == set(style.UTILITIES) == set(style.UTILITY_LABELS)
    colours = list(style.UTILITY_COLOURS.values())
    assert len(set(colours)) == len(colours)
    assert all(HEX.match(c) for c in colours)


def test_trench_ramp_never_reuses_a_utility_colour_and_darkens_with_sharers() -> None:
    assert not set(style.TRENCH_RAMP) & set(style.UTILITY_COLOURS.values())
    shared = [style.trench_colour(n) for n in range(2, 7)]
    assert len(set(shared)) == len(shared)
    luminance = [sum(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in shared]
    assert luminance == sorted(luminance, reverse=True)
    assert style.trench_colour(9) == style.trench_colour(6)
    widths = [style.trench_width_px(n) for n in range(1, 7)]
    assert widths == sorted(widths) and widths[0] == style.LINE_WIDTHS_PX["trench_base"]


def test_labels_are_bilingual() -> None:
    assert style.label("water") == "给水 Water"
    assert style.label("trench") == "共同沟槽 Shared trench"
    for key in style.PERMIT_TYPES:
        zh, en = style.permit_label(key)
        assert re.search(r"[\u4e00-\u9fff]", zh) and en.isascii()
    assert style.permit_label("road_excavation")[0] == "挖掘城市道路"


def test_permit_types_match_the_approval_flow() -> None:
    from api.approvals import enums  # noqa: PLC0415 - the flow's vocabulary, checked here only

    assert set(style.PERMIT_TYPES) <= {p.value for p in enums.PermitType}
    assert set(style.UTILITIES) == {u.value for u in enums.Utility}


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: style.utility_colour("steam"), "unknown utility 'steam'"),
        (lambda: style.permit_label("parking"), "unknown permit type 'parking'"),
        (lambda: style.trench_colour(-1), "n_utilities must be >= 0"),
    ],
)
def test_bad_keys_name_the_key(call, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=re.escape(words)):
        call()
