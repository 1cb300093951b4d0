"""TOML files (manifest, profiles, daemon config) read with errors that name the file, and pydantic errors as
one line per problem."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from .errors import ConfigError

try:  # Python 3.10 has no tomllib
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - depends on the interpreter
    import tomli as tomllib


def read_toml(path: Path | str, what: str, hint: str | None = None) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror}", hint=hint) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} {path} is not valid TOML: {e}") from None


def problems(e: ValidationError, unknown: str = "unknown key") -> list[str]:
    """'section.key: message' per error; extra keys say `unknown`."""
    out = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        out.append(f"{loc}: {unknown if err['type'] == 'extra_forbidden' else err['msg']}")
    return out


def describe(e: ValidationError) -> str:
    return "\n".join(f"  {p}" for p in problems(e))
