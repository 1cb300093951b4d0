"""Text from outside (file names, request ids) made safe to log: one line, printable, nothing that forges a line."""
from __future__ import annotations


def printable(text: str) -> str:
    """Control characters and lone surrogates escaped; everything else as it is."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
