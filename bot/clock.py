"""The one wall clock: every `now=` default in the product is this function."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC, so stored times and differences never depend on the host's zone."""
    return datetime.now(UTC)
