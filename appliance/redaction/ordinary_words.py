"""Is a word an ordinary English word (or a month, a day)? Then it is never redacted on its own.

A known person's surname alone is redacted wherever it appears only when no English
dictionary lists it in any spelling: "Okonkwo" spreads, "Smith", "Will", "May", "Paris"
and "Jordan" do not, because those are also words, months and places people ask about.
The word lists are Webster's Second (web2) and GCIDE from the `english-words` package,
read once per process.
"""

from __future__ import annotations

import pickle
from functools import cache
from importlib import resources

CALENDAR_WORDS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun".split()
)
_LISTS = ("web2_lower.pickle", "gcide_lower.pickle")


@cache
def dictionary_words() -> frozenset[str]:
    """Every word of the two dictionaries, lower-cased (about 280,000)."""
    words: set[str] = set()
    data = resources.files("english_words").joinpath("data")
    for name in _LISTS:
        # Package data shipped in the locked, hash-checked english-words wheel (not user input).
        words.update(pickle.loads(data.joinpath(name).read_bytes()))
    return frozenset(words)


def is_ordinary_word(word: str) -> bool:
    """True for dictionary words, month and day names, and anything shorter than four letters."""
    folded = word.casefold()
    return len(folded) < 4 or folded in CALENDAR_WORDS or folded in dictionary_words()
