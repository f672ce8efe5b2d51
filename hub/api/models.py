"""Field types and models shared by several endpoints; each endpoint module defines its own bodies
(a durable message is the wire protocol's own ``hub.protocol.Message``).

Every limit is written once, in a ``msgspec.Meta``: decoding enforces it and the OpenAPI document
shows it (``hub.api.openapi``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from hub.auth.passwords import MIN_PASSWORD_LENGTH

MAX_ORIGINS = 50
MAX_ID_CHARS = 64  # ids in paths: longer ones name nothing

Timestamp = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
BusinessId = Annotated[str, Meta(max_length=64, description="A tenant's business_id, e.g. `acme-shop`.")]
Email = Annotated[str, Meta(min_length=1, max_length=254, description="Case-insensitive.")]
NewPassword = Annotated[str, Meta(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
MAX_PERSON_NAME = 80
# A staff member's display name: what colleagues and visitors see ("Alex joined the chat", a reply's author).
PersonName = Annotated[
    str,
    Meta(
        max_length=MAX_PERSON_NAME,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="What colleagues and visitors see (e.g. `Alex from Acme`), no control characters; "
        "defaults to the email's name.",
    ),
]
Origins = Annotated[
    list[str],
    Meta(
        max_length=MAX_ORIGINS,
        description="Allowed browser origins, `scheme://host[:port]`, `scheme://*.host[:port]` for subdomains, "
        "`scheme://host:*` for any port.",
    ),
]
PathId = Annotated[str, Meta(max_length=MAX_ID_CHARS)]
LinkToken = Annotated[
    str, Meta(min_length=1, max_length=100, description="The token of a one-time link: the last part of its path.")
]


class ManagedQuery(msgspec.Struct):
    """The query of a management call."""

    business_id: (
        Annotated[str, Meta(max_length=64, description="Another tenant's business_id: platform admins only.")] | None
    ) = None
