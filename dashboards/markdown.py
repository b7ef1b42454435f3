"""Outside text (names, cities, file names, order numbers) shown inside Streamlit markdown as
itself: no link, emphasis, autolink or HTML can come from the data."""

from __future__ import annotations

import string
import unicodedata


def plain(text: object) -> str:
    """``text`` with every ASCII punctuation character backslash-escaped, and control or
    format characters (new lines, direction overrides) shown as U+FFFD."""
    shown = []
    for c in str(text):
        if c in string.punctuation:
            shown.append(f"\\{c}")
        elif unicodedata.category(c)[0] == "C":
            shown.append("\ufffd")
        else:
            shown.append(c)
    return "".join(shown)
