"""RFC 9457 problem details: every error a client sees is ``application/problem+json``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://fupin.example/problems/"


class FieldError(BaseModel):
    pointer: str = Field(description="JSON pointer to the offending field, e.g. #/body/id_number")
    detail: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    status = 400
    slug = "bad-request"
    title = "Bad request"
    # What a refusal of this kind is always about (named in ``errors`` unless they are given).
    pointer: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        pointer: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.status = status or self.status
        self.slug = slug or self.slug
        self.title = title or self.title
        pointer = pointer or self.pointer
        if errors is None and pointer is not None:
            errors = [FieldError(pointer=pointer, detail=detail or self.title)]
        self.errors = errors
        self.headers = headers
        self.extensions = extensions

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body = Problem(
            type=PROBLEM_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        ).model_dump(exclude_none=True)
        body.update(self.extensions)
        return body


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "The requested transition is not allowed from this state"


class Unprocessable(ProblemError):
    status, slug, title = 422, "validation-error", "The request is not valid"

    def __init__(self, pointer: str, detail: str, **kw: Any) -> None:
        super().__init__(detail, errors=[FieldError(pointer=pointer, detail=detail)], **kw)


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="fupin"'})


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Not allowed"


class PreconditionFailed(ProblemError):
    status, slug, title = 412, "precondition-failed", "The resource has changed (ETag mismatch)"
    pointer = "#/header/If-Match"


class PreconditionRequired(ProblemError):
    status, slug, title = 428, "precondition-required", "If-Match is required for updates"
    pointer = "#/header/If-Match"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "The request body is too large"
    pointer = "#/body"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json answers."""
    return {
        s: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": "Problem"}
        for s in statuses
    }
