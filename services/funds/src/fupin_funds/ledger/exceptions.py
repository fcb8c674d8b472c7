from __future__ import annotations

from fupin_kit.problems import FieldError, ProblemError, Unprocessable


class InsufficientFunds(ProblemError):
    status, slug, title = 409, "insufficient-funds", "The amount exceeds the available balance"

    def __init__(self, account_id: int | None, pointer: str = "#/body/amount") -> None:
        detail = (
            "the project holds no money yet: fund it first"
            if account_id is None
            else f"the amount exceeds the balance of account {account_id}"
        )
        super().__init__(
            detail, errors=[FieldError(pointer=pointer, detail=detail)], account_id=account_id
        )


class BackdatedPosting(Unprocessable):
    def __init__(self, account_id: int, pointer: str = "#/body/on") -> None:
        super().__init__(
            pointer,
            f"dates out of order: account {account_id} already has postings after this booking "
            "date",
        )
