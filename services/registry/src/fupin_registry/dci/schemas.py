"""DCI message shapes (Social Registry API v1.0.0) and the partner administration schemas.

Message models follow the spec's names and stay open to extension fields where the spec is;
every string and list is bounded so no message can exhaust the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Id99 = Annotated[str, StringConstraints(min_length=1, max_length=99)]
Short = Annotated[str, StringConstraints(max_length=200)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class MsgHeader(_Open):
    version: Short = "1.0.0"
    message_id: Id99
    message_ts: AwareDatetime
    action: Short
    sender_id: Id99
    sender_uri: Annotated[str, StringConstraints(max_length=2048)] | None = None
    receiver_id: Id99 | None = None
    total_count: int = Field(ge=0, le=100000)
    is_msg_encrypted: bool = False
    meta: dict[str, Any] | None = None


class Pagination(_Open):
    # Checked per search request (a bad one rejects its request, rjct.pagination.invalid).
    page_size: Any = None
    page_number: Any = 1


class SortItem(_Open):
    attribute_name: Short
    sort_order: Any = "asc"  # checked per search request (rjct.sort.invalid)


class SearchCriteria(_Open):
    version: Short = "1.0.0"
    reg_type: Short | None = None
    reg_record_type: Short | None = None
    query_type: Literal["idtype-value", "expression", "predicate"]
    response_entity: Literal["Group", "Member"] | None = None
    query: Any
    sort: list[SortItem] = Field(default_factory=list, max_length=5)
    pagination: Pagination | None = None
    consent: dict[str, Any] | None = None
    authorize: dict[str, Any] | None = None
    response_fields: list[Short] | None = Field(
        None, max_length=50, description="extension: only these record fields are returned"
    )


class SearchRequestItem(_Open):
    reference_id: Id99
    timestamp: AwareDatetime
    search_criteria: SearchCriteria
    locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")] | None = None


class SearchRequest(_Open):
    transaction_id: Id99
    search_request: list[SearchRequestItem] = Field(min_length=1, max_length=1000)


class Frequency(_Open):
    start_time: AwareDatetime
    end_time: AwareDatetime
    frequency: Short


class SubscribeCriteria(_Open):
    version: Short = "1.0.0"
    reg_type: Short | None = None
    reg_event_type: Short
    frequency: Frequency | None = None
    filter_type: Literal["idtype-value", "expression", "predicate"] = "predicate"
    filter: Any
    notify_record_type: Short
    authorize: dict[str, Any] | None = None


class SubscribeRequestItem(_Open):
    reference_id: Id99
    timestamp: AwareDatetime
    subscribe_criteria: SubscribeCriteria
    locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")] | None = None


class SubscribeRequest(_Open):
    transaction_id: Id99
    subscribe_request: list[SubscribeRequestItem] = Field(min_length=1, max_length=1000)


class UnSubscribeRequest(_Open):
    transaction_id: Id99
    timestamp: AwareDatetime
    subscription_codes: list[Id99] = Field(min_length=1, max_length=1000)


class TxnStatusQuery(_Open):
    reference_id: Id99
    txn_type: Literal["search", "subscribe", "receipt"]
    attribute_type: Literal["transaction_id", "reference_id_list", "correlation_id"]
    attribute_value: Id99 | list[Id99]
    locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")] | None = None


class TxnStatusRequest(_Open):
    transaction_id: Id99
    txnstatus_request: TxnStatusQuery


# --- partner administration (/v1/dci/partners) ---------------------------------------------------

SenderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,99}$")]
PublicKeyText = Annotated[str, StringConstraints(min_length=20, max_length=4000)]


def _url_prefix(value: str) -> str:
    """A callback prefix is scheme, host, optional port and path: callbacks are compared with
    it part by part, so user information, a query or a fragment would make no sense."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValueError(f"not a URL: {exc}") from exc
    if not url.host or url.userinfo or url.query or url.fragment or "\\" in value:
        raise ValueError("a callback prefix is scheme://host[:port][/path], nothing else")
    return value


UrlPrefix = Annotated[
    str,
    StringConstraints(pattern=r"^https?://[^\s]{1,2000}$"),
    AfterValidator(_url_prefix),
]


class PartnerCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sender_id": "civil-affairs.jl.example",
                    "name": "吉林省民政厅",
                    "client_id": "civil-affairs",
                    "public_key": (
                        '{"kty":"OKP","crv":"Ed25519",'
                        '"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}'
                    ),
                    "require_signature": True,
                    "callback_url_prefix": "https://sr-gateway.civil-affairs.example/dci/",
                }
            ]
        },
    )

    sender_id: SenderId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="the OAuth client id whose tokens may speak for this sender"
    )
    public_key: PublicKeyText | None = Field(
        None, description="Ed25519 public key: PEM or JWK (JSON)"
    )
    key_id: Id99 | None = Field(None, description="key id expected in the signature's kidId")
    require_signature: bool = True
    callback_url_prefix: UrlPrefix | None = Field(
        None, description="callbacks (sender_uri) must start with this; async requests need it"
    )


class PartnerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    public_key: PublicKeyText | None = None
    key_id: Id99 | None = None
    require_signature: bool = True
    callback_url_prefix: UrlPrefix | None = None
    active: bool = True


class PartnerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sender_id: str
    name: str
    client_id: str
    public_key: str | None
    key_id: str | None
    require_signature: bool
    callback_url_prefix: str | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
