"""Free text the way OpenSearch's ``match`` query sees it, for the embedded store.

``analyze`` splits text into words like the standard analyzer (Unicode UAX #29 word boundaries,
lowercased); ``allowed_edits`` and ``within_edits`` reproduce ``fuzziness: AUTO`` with Lucene's
edit distance, so a typo finds the same images in both stores.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

# Lucene's StandardTokenizer follows the word boundaries of Unicode UAX #29; this is the subset
# that matters for labels and detected text. Kinds of characters:
LETTER, NUMBER, KATAKANA, CONNECTOR, IDEOGRAPH, EMOJI, REGIONAL = (
    "letter",
    "number",
    "katakana",
    "connector",  # '_' and other connector punctuation (ExtendNumLet)
    "ideograph",  # Han and Hiragana: every character is a word of its own
    "emoji",
    "regional",  # regional indicators: a pair is one flag
)
MID_LETTER, MID_NUMBER, MID_EITHER, EXTEND, OTHER = "mid_letter", "mid_number", "mid", "extend", ""
# Joins letters on both sides ("label:dog", "U.S.A", "don't"), digits ("3.14", "1,000"), or both.
MID_CHARACTERS = {
    **dict.fromkeys(":\u00b7\u0387\u055f\u05f4\u2027\ufe13\ufe55\uff1a", MID_LETTER),
    **dict.fromkeys(
        ",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b",
        MID_NUMBER,
    ),
    **dict.fromkeys(".'\u2018\u2019\u2024\ufe52\uff07\uff0e", MID_EITHER),
}
WORD_KINDS = {LETTER, NUMBER, KATAKANA, IDEOGRAPH, EMOJI, REGIONAL}
JOINING = {LETTER, NUMBER, KATAKANA, CONNECTOR}
ZERO_WIDTH_JOINER = "\u200d"
MAX_TOKEN_LENGTH = 255  # the standard tokenizer splits longer words (Lucene counts UTF-16)


def analyze(text: str) -> list[str]:
    """The words OpenSearch's standard analyzer makes of ``text``: UAX #29 words, lowercased."""
    words = []
    for word in _words(_units(text)):
        for start in range(0, len(word), MAX_TOKEN_LENGTH):
            words.append(_lowercase(word[start : start + MAX_TOKEN_LENGTH]))
    return words


def _units(text: str) -> list[list[str]]:
    """[kind, characters] per character, with combining marks and format characters attached
    to the character before them (UAX #29 rule WB4)."""
    units: list[list[str]] = []
    for char in text:
        kind = _kind(char)
        if kind == EXTEND and units:
            units[-1][1] += char
        elif kind == REGIONAL and units and units[-1][0] == REGIONAL and len(units[-1][1]) == 1:
            units[-1][1] += char  # the second half of a flag
        else:
            units.append([OTHER if kind == EXTEND else kind, char])
    return units


def _words(units: list[list[str]]) -> Iterator[str]:
    """Group the units into words; what is left between words (spaces, symbols) is dropped."""
    word: list[list[str]] = []
    for index, unit in enumerate(units):
        kind = unit[0]
        if word and _joins(word, unit, units[index + 1] if index + 1 < len(units) else None):
            word.append(unit)
            continue
        yield from _finished(word)
        word = [unit] if kind in WORD_KINDS or kind == CONNECTOR else []
    yield from _finished(word)


def _joins(word: list[list[str]], unit: list[str], following: list[str] | None) -> bool:
    """Does ``unit`` continue ``word`` (UAX #29 rules WB3c and WB5 to WB13b)?"""
    (previous_kind, previous), kind = word[-1], unit[0]
    if previous_kind in (MID_LETTER, MID_NUMBER, MID_EITHER):
        return True  # a middle character is only taken when the next one continues the word
    if kind in (MID_LETTER, MID_NUMBER, MID_EITHER):
        return following is not None and _mid_joins(previous_kind, kind, following[0])
    if kind == EMOJI:
        return previous_kind == EMOJI and previous.endswith(ZERO_WIDTH_JOINER)
    if previous_kind == KATAKANA or kind == KATAKANA:
        return (previous_kind, kind) in {
            (KATAKANA, KATAKANA),
            (KATAKANA, CONNECTOR),
            (CONNECTOR, KATAKANA),
        }
    return previous_kind in JOINING and kind in JOINING


def _mid_joins(before: str, mid: str, after: str) -> bool:
    """Letter-mid-letter (WB6, WB7) or digit-mid-digit (WB11, WB12)."""
    letters = before == after == LETTER and mid in (MID_LETTER, MID_EITHER)
    numbers = before == after == NUMBER and mid in (MID_NUMBER, MID_EITHER)
    return letters or numbers


def _finished(word: list[list[str]]) -> Iterator[str]:
    if any(kind in WORD_KINDS for kind, _ in word):
        yield "".join(chars for _, chars in word)


def _kind(char: str) -> str:
    if char in MID_CHARACTERS:
        return MID_CHARACTERS[char]
    code = ord(char)
    category = unicodedata.category(char)
    if 0x1F1E6 <= code <= 0x1F1FF:
        return REGIONAL
    if 0x1F3FB <= code <= 0x1F3FF:
        return EXTEND  # skin tone modifiers
    script = _cjk_kind(code)
    if script and category[0] != "P":
        return script
    if category[0] == "L" or category == "Nl":
        return LETTER
    if category == "Nd":
        return NUMBER
    if category == "Pc":
        return CONNECTOR
    if category[0] == "M" or category == "Cf":
        return EXTEND
    # Extended_Pictographic, near enough: symbols in the ranges of emoji.
    if category == "So" and (code in (0xA9, 0xAE) or 0x2100 <= code <= 0x2BFF or code >= 0x1F000):
        return EMOJI
    return OTHER


def _cjk_kind(code: int) -> str | None:
    """Hiragana and Han characters are words of their own; Katakana runs are one word."""
    if 0x3040 <= code <= 0x309F:
        return IDEOGRAPH  # Hiragana
    if 0x30A0 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F:
        return KATAKANA
    if 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF:
        return IDEOGRAPH
    if 0x20000 <= code <= 0x3FFFF:
        return IDEOGRAPH
    return None


def _lowercase(word: str) -> str:
    """Lucene's LowerCaseFilter: each character's simple lowercase mapping, without context
    (so no final sigma), where Python's full mapping would turn 'İ' into two characters."""
    return "".join("i" if char == "\u0130" else char.lower() for char in word)


def allowed_edits(word: str) -> int:
    """``fuzziness: AUTO``: exact up to 2 characters, one edit up to 5, two beyond."""
    length = len(word)
    return 0 if length <= 2 else 1 if length <= 5 else 2


def within_edits(a: str, b: str, limit: int) -> bool:
    """Is the edit distance of a and b at most ``limit``? Insertions, deletions, substitutions
    and adjacent transpositions each cost one edit, and no substring is edited twice (optimal
    string alignment, the distance of Lucene's fuzzy automata with transpositions)."""
    if abs(len(a) - len(b)) > limit:
        return False
    if limit == 0 or a == b:
        return a == b
    # Quick rejection: an edit adds at most one character the other word lacks, and removes one.
    if len(set(a) - set(b)) > limit or len(set(b) - set(a)) > limit:
        return False
    before_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (a[i - 1] != b[j - 1]),  # substitution
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before_previous[j - 2] + 1)  # transposition
        if min(current) > limit:
            return False
        before_previous, previous = previous, current
    return previous[-1] <= limit
