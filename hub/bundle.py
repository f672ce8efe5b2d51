"""The widget bundle: ``widget/widget.js`` with one tenant's configuration baked in, ready to serve.

Rendered once per configuration (bytes, gzip, ETag) and kept until the configuration changes. The
bundle also carries the widget's strings from the message catalogs, of every language (a few hundred
bytes each, gzipped): with ``"auto"`` the visitor's browser decides, and a tenant that switches its
widget's language in the portal switches every open widget at once, with no new bundle.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from hub.assets import asset_dir
from hub.i18n import LANGUAGES, script_strings

PLACEHOLDER = b"__BOB_CONFIG__"


def widget_script() -> Path:
    return asset_dir("widget") / "widget.js"


@cache
def widget_source() -> bytes:
    return widget_script().read_bytes()


def widget_strings() -> dict[str, dict[str, str]]:
    """The widget's strings, per language."""
    return {code: script_strings(widget_script(), code) for code in LANGUAGES}


@dataclass(frozen=True)
class Bundle:
    config_key: bytes
    etag: str
    plain: bytes
    gzipped: bytes


def render(config: dict[str, Any]) -> Bundle:
    # JSON is valid JavaScript; escaping "<" keeps a persona text from closing an inline <script>.
    config_json = orjson.dumps(config).replace(b"<", b"\\u003c")
    baked = {**config, "strings": widget_strings()}
    plain = widget_source().replace(PLACEHOLDER, orjson.dumps(baked).replace(b"<", b"\\u003c"), 1)
    etag = '"' + hashlib.sha256(plain).hexdigest()[:32] + '"'
    return Bundle(config_json, etag, plain, gzip.compress(plain, compresslevel=9, mtime=0))


class BundleCache:
    """The rendered bundle per tenant; a new one is made only when the config bytes change."""

    def __init__(self) -> None:
        self._bundles: dict[str, Bundle] = {}

    def get(self, tenant_id: str, config: dict[str, Any]) -> Bundle:
        key = orjson.dumps(config).replace(b"<", b"\\u003c")
        bundle = self._bundles.get(tenant_id)
        if bundle is None or bundle.config_key != key:
            bundle = render(config)
            if len(self._bundles) > 10_000:
                self._bundles.clear()
            self._bundles[tenant_id] = bundle
        return bundle
