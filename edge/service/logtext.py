"""Text from outside (file names, request ids) made safe to log: one line, printable, nothing that forges a line."""
from __future__ import annotations

import os


def printable(text: str) -> str:
    """Control characters and lone surrogates escaped; everything else as it is."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def display_name(path: str | os.PathLike) -> str:
    """A file name as text for logs and JSON: bytes that are not UTF-8 as \\xNN, control characters (a newline that
    would forge a log line) escaped. The file itself keeps its name."""
    return printable(os.fsencode(path).decode("utf-8", "backslashreplace"))
