"""Partner clients (banks, agencies) reach only the routes open to them: every other operation
refuses a client token with 403, whatever its roles and scopes — a new route included. (Bank
eligibility and the DCI API authenticate partners themselves, each with its own scope.)"""

from fupin_kit.testing.routes import answers_to_partner

OPEN_TO_PARTNERS = {("POST", "/v1/crosscheck/lists")}


async def test_a_partner_token_is_refused_on_every_route_not_open_to_partners(app, make_token):
    token = make_token(
        "22",
        client_id="bank-1",
        roles=["partner", "officer", "admin"],
        scopes=["eligibility:check", "crosscheck:upload", "dci:search", "pii:read"],
    )
    refused, answered = await answers_to_partner(app, token)
    own_auth = {(m, t) for m, t in answered if t.startswith(("/registry/", "/v1/eligibility"))}
    public = {
        (m, t) for m, t in answered if t.startswith(("/healthz", "/readyz", "/metrics", "/.well"))
    }
    assert answered - own_auth - public == OPEN_TO_PARTNERS
    assert len(refused) > 30 and own_auth
