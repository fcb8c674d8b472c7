"""Partner clients (banks) reach only the routes open to them: every other operation refuses a
client token with 403, whatever its roles and scopes — a new route included."""

from fupin_kit.testing.routes import answers_to_partner

OPEN_TO_BANKS = {
    ("POST", "/v1/loans"),
    ("GET", "/v1/loans"),
    ("GET", "/v1/loans/{loan_id}"),
    ("GET", "/v1/loans/{loan_id}/subsidies"),
    ("POST", "/v1/loans/{loan_id}/repayments"),
    ("POST", "/v1/loans/{loan_id}/overdue"),
    ("POST", "/v1/loans/{loan_id}/default"),
}
PUBLIC = ("/healthz", "/readyz", "/metrics", "/v1/public/")  # no token needed


async def test_a_bank_token_is_refused_on_every_route_not_open_to_banks(app, make_token):
    token = make_token(
        "22",
        client_id="bank-1",
        roles=["partner", "officer", "admin"],
        scopes=["loans:report", "pii:read"],
    )
    refused, answered = await answers_to_partner(app, token)
    public = {(m, t) for m, t in answered if t.startswith(PUBLIC)}
    assert public and answered - public == OPEN_TO_BANKS
    assert len(refused) > 30
