"""Free text at the ledger's boundary: one type for every string a client sends into an event.

`Text(n)` is a string of 1..n characters, trimmed, normalised to NFC, and refused (a
validation error that names the field, HTTP 422) when it holds

- a control character: C0 (NUL included), DEL or C1, and tab and line breaks too (U+2028 and
  U+2029 as well): every field is one line, as views, exports, logs and the CLI show it;
- a surrogate: half of a UTF-16 pair, which neither UTF-8 nor PostgreSQL can hold;
- a bidirectional embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), which make
  text display in another order than it is stored;
- a CPR number in any spelling (`looks_like_cpr`): identifiers go to the person registry.

So every stored event can be projected on both stores (PostgreSQL text cannot hold NUL).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

_LINE_BREAKS = {"\u2028", "\u2029"}
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
# Characters a CPR number may be spelled with between its digits: spaces and punctuation
# (hyphen, en and em dash, dots, slashes…) and the minus sign; at most _GAP of them in a row.
_SEPARATOR_CATEGORIES = {"Zs", "Pd", "Po", "Pc", "Ps", "Pe", "Pi", "Pf"}
_GAP = 3


def refusal(text: str) -> str | None:
    """Why `text` cannot be stored as free text (control, surrogate or bidi character), or None."""
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc" or ch in _LINE_BREAKS:
            return (f"holds the control character U+{ord(ch):04X}; free text is one line of "
                    "printable characters")
        if category == "Cs":
            return f"holds the lone surrogate U+{ord(ch):04X} (not a character)"
        if ch in _BIDI_CONTROLS:
            return f"holds the bidirectional control U+{ord(ch):04X}, which reorders how text is shown"
    return None


def looks_like_cpr(text: str) -> bool:
    """True when `text` holds ten digits shaped like a CPR number (DDMMYY-SSSS), however spelled:
    with hyphens, dashes, spaces, dots or nothing between the digits, in full-width or other
    scripts' digits, or with invisible characters (zero-width space, joiners) among them.

    The digits must be one unbroken run, or split with the birth date (six digits) apart from
    the serial (four); the day is 01–31 (61–91 for a replacement number) and the month 01–12.
    A date with a four-digit year ("01.02.2025 10:30") is therefore not taken for one."""
    for pieces in _digit_groups(text):
        for i in range(len(pieces)):
            digits, cuts = "", set()
            for piece in pieces[i:]:
                if digits:
                    cuts.add(len(digits))
                digits += piece
                if len(digits) >= 10:
                    break
            if len(digits) == 10 and (not cuts or 6 in cuts) and _birth_date_like(digits):
                return True
    return False


def _birth_date_like(digits: str) -> bool:
    day, month = int(digits[:2]), int(digits[2:4])
    return (1 <= day <= 31 or 61 <= day <= 91) and 1 <= month <= 12


def _digit_groups(text: str) -> list[list[str]]:
    """Runs of digits joined by short gaps of separators, each as its list of digit pieces."""
    # NFKC folds full-width, superscript and circled digits (and the full-width hyphen) to ASCII;
    # format characters (zero-width space, joiners, soft hyphen) and combining marks are invisible.
    folded = [ch for ch in unicodedata.normalize("NFKC", text)
              if unicodedata.category(ch) not in ("Cf", "Mn", "Me")]
    groups: list[list[str]] = []
    pieces: list[str] = []
    piece, gap = "", 0
    for ch in folded + ["x"]:  # a final non-separator closes the last group
        if ch.isdecimal():
            if gap and piece:
                pieces.append(piece)
                piece = ""
            piece += str(unicodedata.decimal(ch))
            gap = 0
        elif (unicodedata.category(ch) in _SEPARATOR_CATEGORIES or ch == "\u2212") and gap < _GAP:
            gap += 1
        else:
            if piece:
                pieces.append(piece)
            if pieces:
                groups.append(pieces)
            pieces, piece, gap = [], "", 0
    return groups


def _printable(text: str) -> str:
    why = refusal(text)
    if why:
        raise ValueError(why)
    return unicodedata.normalize("NFC", text)


def no_cpr(text: str) -> str:
    """`text`, unless it looks like a CPR number (a validator)."""
    if looks_like_cpr(text):
        raise ValueError("looks like a CPR number; identifiers go in the person registry, not in free text")
    return text


def Text(max_length: int, *, min_length: int = 1, check_cpr: bool = True) -> Any:  # noqa: N802 - a type
    """Free text of `min_length`..`max_length` characters (see the module). `check_cpr=False` is
    only for text the ledger composes itself from checked text (a statement line's detail), where
    a cut at the length limit must not turn into the refusal of a whole billing run."""
    checks = [AfterValidator(_printable)] + ([AfterValidator(no_cpr)] if check_cpr else [])
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     *checks]
