"""OAuth2 bearer JWTs: validation, the caller, scopes and jurisdiction.

A token carries ``sub``, ``roles``, ``scope`` (space separated, OAuth2 style), ``jurisdiction``
(a region code prefix; ``""`` is not accepted, the province is ``"22"``) and, for partner
clients, ``client_id``. Jurisdiction is enforced where objects are loaded: an object outside
the caller's jurisdiction answers 404, as if it did not exist.

Partner clients (banks, agencies: tokens with a ``client_id``) are refused (403) by every route
taking the caller as a dependency unless its endpoint is marked ``open_to_partners``: a route
added for the poverty offices cannot forget them.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from fupin_kit.problems import Forbidden, NotFound, Unauthorized
from fupin_kit.settings import ServiceSettings

_JURISDICTION = re.compile(r"^[0-9]{2}([0-9]{2}([0-9]{2}([0-9]{3}([0-9]{3})?)?)?)?$")
_IDENTIFIER = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


class Caller(BaseModel):
    # Frozen: one verified caller is shared by every request carrying the same token.
    model_config = ConfigDict(frozen=True)

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    jurisdiction: str = Field(description="region code prefix the caller may see")
    client_id: str | None = None
    display_name: str | None = None

    @property
    def actor(self) -> str:
        """How the caller appears in the audit trail."""
        return f"client:{self.client_id}" if self.client_id else f"user:{self.subject}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"the '{scope}' scope is required")

    def require_role(self, *roles: str) -> None:
        if not self.roles.intersection(roles):
            raise Forbidden(f"one of the roles {sorted(roles)} is required")

    def sees(self, region_code: str) -> bool:
        return region_code.startswith(self.jurisdiction)

    def require_region(
        self, region_code: str, what: str = "object", pointer: str | None = None
    ) -> None:
        """Out of jurisdiction is indistinguishable from absent (``pointer``: where the caller
        named the object, as its loader's own 404 names it)."""
        if not self.sees(region_code):
            raise NotFound(f"{what} not found", pointer=pointer)

    def require_region_write(self, region_code: str) -> None:
        """For commands naming a target region: refuse regions outside the jurisdiction."""
        if not self.sees(region_code):
            raise Forbidden(f"region {region_code} is outside your jurisdiction")

    def region_filter(self, column: InstrumentedAttribute[str] | Any) -> ColumnElement[bool]:
        """A SQL filter keeping rows whose region code lies in the jurisdiction."""
        return column.startswith(self.jurisdiction, autoescape=True)  # type: ignore[no-any-return]


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        algorithms = [a for a in settings.jwt_algorithms if a.lower() != "none"]
        if not algorithms:
            raise ValueError("no acceptable JWT algorithm configured")
        self.algorithms = algorithms
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = settings.jwt_leeway_seconds
        # Parse the PEM once: handing PyJWT a string makes it parse the key on every request.
        self.key = jwt.algorithms.get_default_algorithms()[algorithms[0]].prepare_key(
            settings.public_key_pem()
        )
        # Verified tokens by their exact text, until their ``exp``: a client calling many times
        # with one token pays for the signature check once. Only successes are kept.
        self.cache_size = settings.jwt_cache_size
        self._verified: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    def verify(self, token: str) -> Caller:
        entry = self._verified.get(token)
        if entry is not None and entry[1] > time.time():
            return entry[0]
        caller, expires = self._verify(token)
        if self.cache_size:
            self._verified[token] = (caller, expires)
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return caller

    def _verify(self, token: str) -> tuple[Caller, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed bearer token") from exc
        # One verification key, prepared for the first configured algorithm: a token signed
        # with another (even one also listed) cannot be checked against it.
        if header.get("alg") != self.algorithms[0]:
            raise Unauthorized("token algorithm not accepted")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("token audience not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("token issuer not accepted") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token") from exc
        jurisdiction = claims.get("jurisdiction")
        if not isinstance(jurisdiction, str) or not _JURISDICTION.fullmatch(jurisdiction):
            raise Unauthorized("token has no valid jurisdiction claim")
        scope = claims.get("scope", "")
        roles = claims.get("roles", [])
        if not isinstance(scope, str) or not isinstance(roles, list):
            raise Unauthorized("token scope or roles malformed")
        client_id, name = claims.get("client_id"), claims.get("name")
        if not isinstance(client_id, str | None) or not isinstance(name, str | None):
            raise Unauthorized("token client_id or name malformed")
        # Who acted is written to the audit chain and to the register's records.
        if not isinstance(claims["sub"], str) or not _IDENTIFIER.fullmatch(claims["sub"]):
            raise Unauthorized("token subject must be 1-200 characters without control characters")
        if client_id is not None and not _IDENTIFIER.fullmatch(client_id):
            raise Unauthorized(
                "token client_id must be 1-200 characters without control characters"
            )
        caller = Caller(
            subject=str(claims["sub"]),
            roles=frozenset(str(r) for r in roles),
            scopes=frozenset(scope.split()),
            jurisdiction=jurisdiction,
            client_id=client_id,
            display_name=name,
        )
        return caller, float(claims["exp"])


def get_caller(request: Request) -> Caller:
    """Authenticate the request's bearer token (plain function, usable outside dependencies)."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("a bearer token is required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    verifier: TokenVerifier = request.app.state.token_verifier
    caller = verifier.verify(token.strip())
    request.state.caller = caller
    return caller


PARTNER_ROUTE_MARK = "__fupin_open_to_partners__"
PARTNER_REFUSAL = "this route serves the poverty offices: a partner client's token is not accepted"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def open_to_partners(endpoint: Endpoint) -> Endpoint:
    """Mark a route's endpoint as one partner clients may call (each still checks its scope)."""
    setattr(endpoint, PARTNER_ROUTE_MARK, True)
    return endpoint


def partners_allowed(request: Request) -> bool:
    route = request.scope.get("route")
    return bool(getattr(getattr(route, "endpoint", None), PARTNER_ROUTE_MARK, False))


READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_writer_for_commands(request: Request, caller: Caller) -> None:
    """A poverty office's command needs one of the service's ``writer_roles``: a viewer or an
    auditor reads, and no route can forget to refuse it a write."""
    if request.method in READING_METHODS or caller.client_id is not None:
        return
    roles = request.app.state.settings.writer_roles
    if roles:
        caller.require_role(*roles)


def get_staff_caller(request: Request) -> Caller:
    """``get_caller`` for a route only the poverty offices use (an express route, which has no
    dependencies): a partner client's token is refused (403), and so is a command from a token
    without a writer role."""
    caller = get_caller(request)
    if caller.client_id is not None:
        raise Forbidden(PARTNER_REFUSAL)
    require_writer_for_commands(request, caller)
    return caller


async def current_caller(request: Request) -> Caller:
    # async so FastAPI runs it on the event loop rather than in its thread pool
    if partners_allowed(request):
        caller = get_caller(request)
        require_writer_for_commands(request, caller)
        return caller
    return get_staff_caller(request)


CallerDep = Annotated[Caller, Depends(current_caller)]


def require_scopes(*scopes: str) -> Any:
    """Dependency factory: a caller holding every one of ``scopes``."""

    async def dependency(caller: CallerDep) -> Caller:
        for scope in scopes:
            caller.require_scope(scope)
        return caller

    return Depends(dependency)


def new_signing_keys() -> tuple[str, str]:
    """A fresh Ed25519 key pair for signing tokens: (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def issue_token(
    signing_key_pem: str,
    *,
    subject: str,
    jurisdiction: str,
    roles: list[str] | None = None,
    scopes: list[str] | None = None,
    client_id: str | None = None,
    lifetime_seconds: int = 3600,
    issuer: str = "fupin-auth",
    audience: str = "fupin",
    algorithm: str = "EdDSA",
    name: str | None = None,
) -> str:
    import time

    if not _JURISDICTION.match(jurisdiction):
        raise ValueError("jurisdiction must be a 2/4/6/9/12-digit region code prefix")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "jurisdiction": jurisdiction,
        "roles": roles or [],
        "scope": " ".join(scopes or []),
    }
    if client_id:
        claims["client_id"] = client_id
    if name:
        claims["name"] = name
    return jwt.encode(claims, signing_key_pem, algorithm=algorithm)
