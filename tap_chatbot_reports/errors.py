"""Exceptions whose message is shown to the user as one line."""

from __future__ import annotations


class TapError(Exception):
    """An error the user can act on; its message is printed as one line, no traceback."""


class TapConfigError(TapError):
    """Invalid configuration, detected before any request is made."""


class TapStateError(TapError):
    """A state (``--state``) the tap cannot use, detected before any request is made."""
