"""How a tenant's widget looks: one typed record, its limits stated once.

Kept in the tenant's ``config`` (JSON) under ``appearance``; changed through ``GET``/``PATCH
/api/widget-appearance`` (the portal's Widget Setup page), baked into the widget bundle, sent in the
visitor socket's ``ready`` and, after a change, in a ``widget`` frame to every open widget of the
tenant. The colour must keep white text on it readable: a contrast of at least ``MIN_CONTRAST`` to 1
(WCAG 2's AA level for normal text), which also keeps it readable as text on the widget's white panel.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from hub.errors import InvalidInput

if TYPE_CHECKING:
    from hub.store.models import Tenant

DEFAULT_COLOR = "#2459d8"
MIN_CONTRAST = 4.5
GREETING_CHARS = 300
LAUNCHER_TEXT_CHARS = 40

Color = Annotated[
    str,
    Meta(
        pattern=r"^#[0-9a-fA-F]{6}$",
        description="The widget's colour, #rrggbb: its launcher, header, the visitor's bubbles and buttons. White "
        f"text on it must have a contrast of at least {MIN_CONTRAST}:1.",
    ),
]
Greeting = Annotated[
    str,
    Meta(
        max_length=GREETING_CHARS,
        description="The widget's first bubble. Empty: it greets in the visitor's language with the active "
        "persona's name.",
    ),
]
Position = Annotated[Literal["left", "right"], Meta(description="The bottom corner the widget sits in.")]
WidgetLanguage = Annotated[
    Literal["auto", "en", "pl"],
    Meta(description="The language the widget speaks; auto: the visitor's browser language."),
]
LauncherText = Annotated[
    str,
    Meta(
        max_length=LAUNCHER_TEXT_CHARS,
        description="Words on the launcher button beside its icon (one line). Empty: the icon alone.",
    ),
]


class WidgetAppearance(msgspec.Struct, kw_only=True, frozen=True):
    """How the widget looks; every field has a default, so a tenant that set nothing has them all."""

    color: Color = DEFAULT_COLOR
    greeting: Greeting = ""
    position: Position = "right"
    language: WidgetLanguage = "auto"
    launcher_text: LauncherText = ""


class AppearanceChange(msgspec.Struct, kw_only=True):
    """The fields to change; the others stay as they are."""

    color: Color | UnsetType = UNSET
    greeting: Greeting | UnsetType = UNSET
    position: Position | UnsetType = UNSET
    language: WidgetLanguage | UnsetType = UNSET
    launcher_text: LauncherText | UnsetType = UNSET

    def applied_to(self, appearance: WidgetAppearance) -> WidgetAppearance:
        """The appearance with these changes, checked beyond what the types say (``InvalidInput`` names the field)."""
        given: dict[str, Any] = {
            name: value for name in self.__struct_fields__ if (value := getattr(self, name)) is not UNSET
        }
        if "color" in given:
            given["color"] = readable_color(given["color"])
        if "greeting" in given:
            given["greeting"] = _text("greeting", given["greeting"], lines=True)
        if "launcher_text" in given:
            given["launcher_text"] = _text("launcher_text", given["launcher_text"], lines=False)
        return msgspec.structs.replace(appearance, **given)


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def _text(field: str, value: str, *, lines: bool) -> str:
    if (_CONTROL if lines else _CONTROL_OR_NEWLINE).search(value):
        allowed = "line breaks are the only control characters allowed" if lines else "one line, no control characters"
        raise InvalidInput(f"'{field}': {allowed}")
    return value.strip()


def relative_luminance(color: str) -> float:
    """WCAG 2's relative luminance of ``#rrggbb``."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast_with_white(color: str) -> float:
    """WCAG 2's contrast ratio of white against ``#rrggbb``: 1 (white) to 21 (black)."""
    return 1.05 / (relative_luminance(color) + 0.05)


def readable_color(color: str) -> str:
    """``color`` in lower case, or ``InvalidInput`` when white text on it would be hard to read."""
    ratio = contrast_with_white(color)
    if ratio < MIN_CONTRAST:
        shown = math.floor(ratio * 10) / 10  # rounded down: 4.47 must not read as the 4.5 it misses
        raise InvalidInput(
            f"'color': white text on {color} has a contrast of {shown}:1, below the {MIN_CONTRAST}:1 needed to read "
            "it; choose a darker colour"
        )
    return color.lower()


def appearance_of(tenant: Tenant) -> WidgetAppearance:
    """The tenant's appearance; before it saved one, what older hubs kept elsewhere in its config (the widget
    colour, the persona's greeting, the language) stands in."""
    config = tenant.config
    legacy: dict[str, Any] = {
        "color": (config.get("widget") or {}).get("color"),
        "greeting": (config.get("persona") or {}).get("greeting"),
        "language": str(config.get("language") or "").lower().replace("_", "-").split("-")[0],  # "pl-PL" speaks pl
    }
    stored: Any = config.get("appearance") or {}
    values = {name: value for name, value in legacy.items() if value} | (stored if isinstance(stored, dict) else {})
    try:
        return msgspec.convert(values, WidgetAppearance)
    except msgspec.ValidationError:
        # Written by an older hub with other limits: what still fits is kept, the rest takes its default.
        kept: dict[str, Any] = {}
        for name, value in values.items():
            try:
                msgspec.convert({name: value}, WidgetAppearance)
            except msgspec.ValidationError:
                continue
            kept[name] = value
        return msgspec.convert(kept, WidgetAppearance)
