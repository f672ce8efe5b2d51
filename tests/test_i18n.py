"""One message catalog per language: the language negotiated from Accept-Language."""

from __future__ import annotations

import pytest

from hub.i18n import negotiate


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en;q=0.5, pl", "pl"),
        ("pl-PL,pl;q=0.9", "pl"),
        ("PL", "pl"),
        ("de-DE, pl;q=0.3, en;q=0.2", "pl"),
        ("en-US,en;q=0.9,pl;q=0.8", "en"),
        ("de, fr;q=0.9", "en"),
        ("pl;q=0, en;q=0.1", "en"),
        ("pl;q=nonsense", "en"),
        ("*", "en"),
        ("", "en"),
    ],
)
def test_accept_language_is_negotiated_by_quality(header: str, language: str) -> None:
    assert negotiate(header) == language
