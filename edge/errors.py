"""Error family: every failure a user can act on carries an exit code and says what to do."""
from __future__ import annotations


class EdgeError(Exception):
    """Base class. `exit_code` is what the CLI returns; the message names the thing and the fix."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  -> {hint}")


class ConfigError(EdgeError):
    """A config file, profile or manifest is invalid (unknown key, wrong type)."""

    exit_code = 78  # EX_CONFIG


class ModelError(EdgeError):
    """A model file is missing, corrupt, or does not match its lock."""

    exit_code = 66  # EX_NOINPUT


class BuildError(EdgeError):
    """The model build chain failed; nothing half-built was installed."""

    exit_code = 70  # EX_SOFTWARE


class SourceIntegrityError(BuildError):
    """A downloaded source does not have the sha256 the manifest pins."""

    exit_code = 65  # EX_DATAERR


class EngineError(EdgeError):
    """The inference engine is missing or refused the model."""

    exit_code = 69  # EX_UNAVAILABLE


class ParityError(EdgeError):
    """Built models disagree with their source beyond tolerance."""

    exit_code = 1


class StorageError(EdgeError):
    """A folder or file the service must write (state, journal) is missing, read-only, full, corrupt or in use."""

    exit_code = 78  # EX_CONFIG: the host's set-up must change before the service can start


class InputError(EdgeError):
    """An input (image, PDF, request) cannot be processed; the input itself is at fault."""

    exit_code = 65  # EX_DATAERR


class InputTooLargeError(InputError):
    """An input over a configured limit (pixels, pages, bytes)."""


class UsageError(ConfigError, ValueError):
    """A PaddleOCR parameter or flag this box cannot honour (a model, language, device or value it does not have).
    Also a ValueError, as PaddleOCR raises for the same mistakes."""

    exit_code = 2  # as a command-line usage error
