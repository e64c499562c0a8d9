"""Check Chinese identity numbers: resident ID (GB 11643), credit code (GB 32100), phone."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["check_credit_code", "check_id_number", "check_phone"]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_PHONE_RE = re.compile(r"^(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def check_id_number(value: str) -> str:
    """Return the normalised 18-character resident ID number, or raise ``ValueError``.

    Checks the length, the birth date and the ISO 7064 MOD 11-2 check character.

    Examples
    --------
    >>> check_id_number("11010519491231002x")  # the example in GB 11643-1999
    '11010519491231002X'
    """
    v = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", v):
        msg = "a resident ID number has 17 digits and a check digit or X"
        raise ValueError(msg)
    try:
        dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        msg = f"the birth date {v[6:14]} in the ID number is not a date"
        raise ValueError(msg) from None
    total = sum(int(c) * w for c, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    expected = _ID_CHECK[total % 11]
    if v[17] != expected:
        msg = f"ID number check character is {v[17]!r}, expected {expected!r} (GB 11643)"
        raise ValueError(msg)
    return v


def check_credit_code(value: str) -> str:
    """Return the normalised unified social credit code, or raise ``ValueError``.

    Examples
    --------
    >>> check_credit_code("91330100716105852f")
    '91330100716105852F'
    """
    v = value.strip().upper()
    if not _USCC_RE.fullmatch(v):
        msg = (
            "a unified social credit code has 18 characters from 0-9 and A-Y without I, O, S, V, Z"
        )
        raise ValueError(msg)
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(v[:17], _USCC_WEIGHTS, strict=True))
    expected = _USCC_ALPHABET[(31 - total % 31) % 31]
    if v[17] != expected:
        msg = f"credit code check character is {v[17]!r}, expected {expected!r} (GB 32100)"
        raise ValueError(msg)
    return v


def check_phone(value: str) -> str:
    """Return a mainland mobile or landline number, or raise ``ValueError``.

    Examples
    --------
    >>> check_phone("13800138000")
    '13800138000'
    """
    v = value.strip().replace(" ", "")
    if not _PHONE_RE.fullmatch(v):
        msg = (
            "a phone number is a mobile (1[3-9] + 9 digits) or a landline (0 + area code + number)"
        )
        raise ValueError(msg)
    return v
