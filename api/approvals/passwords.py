"""The password policy: long enough, not a common password, not the user's own name.

Follows NIST SP 800-63B §5.1.1.2: a minimum length and a blocklist of passwords known to be
common, with no composition rules. The blocklist is ``data/common_passwords.txt``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

__all__ = ["MIN_LENGTH", "is_common", "password_problem"]

MIN_LENGTH = 10
_LIST = Path(__file__).resolve().parent / "data" / "common_passwords.txt"


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def is_common(password: str) -> bool:
    """Whether ``password`` is a common one, also with digits or ``!`` appended or repeated."""
    folded = password.strip().lower()
    stem = re.sub(r"[\d!.]+$", "", folded)
    if folded in _common() or (stem and stem in _common()):
        return True
    # one character or one short group repeated: aaaaaaaaaa, abcabcabcabc, 1212121212
    return any(folded == folded[:n] * (len(folded) // n) for n in range(1, 4) if folded)


def password_problem(password: str, *, username: str = "") -> str | None:
    """What is wrong with ``password`` (Chinese, then English), or ``None`` if it may be used."""
    if len(password) < MIN_LENGTH:
        return f"密码至少 {MIN_LENGTH} 个字符 / the password needs at least {MIN_LENGTH} characters"
    if is_common(password):
        return "密码过于常见，请换一个 / the password is too common, choose another"
    if username and username.lower() in password.lower():
        return "密码不能包含用户名 / the password must not contain the user name"
    return None
