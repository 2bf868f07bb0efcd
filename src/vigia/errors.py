"""Vigía's one error tree.

Every error Vigía raises on purpose derives from :class:`VigiaError`. Each subclass also
inherits the builtin it resembles, so callers that catch ``ValueError`` keep working::

    VigiaError
    ├── ConfigError (ValueError)            bad settings, unknown profile or scenario name
    │   └── UnknownNameError (KeyError)     a scenario, platform or sensor that does not exist
    ├── InputError (ValueError)             bad user input: files, units, numbers out of range
    │   ├── FileFormatError                 a file that cannot be parsed as what it claims to be
    │   ├── GeometryError                   polygons that do not close or self-intersect,
    │   │                                   swapped axes, places outside the partner country
    │   ├── LifecycleError                  a site transition the lifecycle does not allow
    │   └── NotFoundError (LookupError)     a site, detection or request id that is not stored
    ├── PlanningError (RuntimeError)        a valid request that cannot be planned
    │   ├── UnreachableError                no flyable path within endurance or around restrictions
    │   └── CoverageError                   restrictions leave nothing of an area to image
    ├── AuthError (PermissionError)         no valid credentials: a token missing, malformed,
    │                                       unknown, expired or revoked, or its user disabled
    ├── ForbiddenError (PermissionError)    a principal may not take an action on an object it
    │                                       can see (wrong role, two-person rule)
    ├── ExportError (RuntimeError)          an export that could not be written or does not verify
    └── StoreError (RuntimeError)           the database cannot be reached, is not migrated, or
                                            refused a write

The CLI turns any ``VigiaError`` into one line on stderr and exit code 2 for input errors,
1 otherwise. The core never prints or exits.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "CoverageError",
    "ExportError",
    "FileFormatError",
    "ForbiddenError",
    "GeometryError",
    "InputError",
    "LifecycleError",
    "NotFoundError",
    "PlanningError",
    "StoreError",
    "UnknownNameError",
    "UnreachableError",
    "VigiaError",
]


class VigiaError(Exception):
    """Root of every error Vigía raises on purpose."""

    exit_code: int = 1


class ConfigError(VigiaError, ValueError):
    """Bad settings or profile data."""

    exit_code = 2


class UnknownNameError(ConfigError, KeyError):
    """A scenario, platform or sensor name that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class InputError(VigiaError, ValueError):
    """Bad user input: a value out of range, wrong units, a malformed file."""

    exit_code = 2


class FileFormatError(InputError):
    """A file that cannot be parsed as the format it claims to be."""


class GeometryError(InputError):
    """Geometry that is invalid, does not close, self-intersects or lies in the wrong place."""


class LifecycleError(InputError):
    """A site transition that the lifecycle does not allow (state, action or role)."""


class NotFoundError(InputError, LookupError):
    """A site, detection or request id that the store does not hold."""


class PlanningError(VigiaError, RuntimeError):
    """A valid request that cannot be planned."""

    exit_code = 2


class UnreachableError(PlanningError):
    """No flyable path exists (restricted airspace in the way, or endurance exceeded)."""


class CoverageError(PlanningError):
    """Restrictions leave nothing of an area of interest to image."""


class AuthError(VigiaError, PermissionError):
    """No valid credentials (an API answers 401).

    ``reason`` says why: ``missing``, ``malformed``, ``unknown``, ``expired``, ``revoked`` or
    ``disabled``.
    """

    exit_code = 2

    def __init__(self, message: str, reason: str = "unknown") -> None:
        super().__init__(message)
        self.reason = reason


class ForbiddenError(VigiaError, PermissionError):
    """The principal may not take this action on an object it can see (an API answers 403).

    Objects a principal may not see raise :class:`NotFoundError` instead, so that their
    existence does not leak.
    """

    exit_code = 2


class ExportError(VigiaError, RuntimeError):
    """An export that could not be written or does not verify."""


class StoreError(VigiaError, RuntimeError):
    """The database cannot be reached, is not at the code's revision, or refused a write."""
