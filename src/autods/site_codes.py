"""Site-like columns, and the integer codes among them that must not be read as quantities.

A column named like a site (``hospital``, ``site``, ``inst``, ``centre``, ``batch`` ...) with
a handful of levels marks where the data came from. When its levels are integer codes
(NCCTG lung's ``inst``: institutions 1..33) a numeric reading would give institution 33
eleven times the effect of institution 3, so the runners model it as categorical levels and
the steward says so (:func:`is_site_code` is the one rule both use, read from the column's
name and values only: no outcome, so it may be applied inside a training fold).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: names that look like a site, batch or centre column (searched anywhere in the name)
SITE_NAME = re.compile(r"site|hosp|center|centre|institution|(?:^|[_.\s])inst(?:$|[_.\s\d])|batch|clinic|facility"
                       r"|plate|study_?arm_?site", re.I)
#: more levels than this is not a site column (it is an id, or a quantity)
MAX_SITES = 30
#: fewer integer levels than this is a binary flag, not a code to expand
MIN_CODE_LEVELS = 3
#: whole words of a column name that make its integer values a site code (stricter than
#: SITE_NAME, which also matches "platelets" through "plate")
SITE_WORDS = ("site", "hosp", "hospital", "center", "centre", "ctr", "inst", "institution", "clinic", "facility",
              "batch", "plate", "practice")
_SUFFIXES = ("", "id", "no", "nr", "num", "code", "number")  # not "s": n_sites counts sites


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^a-z]+", spaced.lower()) if w]


def site_word(name: str) -> bool:
    """True when one word of ``name`` is a site word, alone or fused with an id suffix (``site_id``,
    ``hospitalid``, ``inst``, ``CenterCode``); ``platelets`` or ``instrument_gain`` are not."""
    return any(w == base + suffix for w in _words(name) for base in SITE_WORDS for suffix in _SUFFIXES)


def is_site_code(name: str, values: pd.Series) -> bool:
    """A numeric column whose name is a site word and whose values are integer codes with
    ``MIN_CODE_LEVELS`` to ``MAX_SITES`` levels."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values) or not site_word(name):
        return False
    present = values.dropna().to_numpy(dtype=float)
    if present.size == 0 or not np.all(np.mod(present, 1) == 0):
        return False
    return MIN_CODE_LEVELS <= len(np.unique(present)) <= MAX_SITES


__all__ = ["MAX_SITES", "MIN_CODE_LEVELS", "SITE_NAME", "SITE_WORDS", "is_site_code", "site_word"]
