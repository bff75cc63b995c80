"""The management API's contract is written once: every route the server answers is in the OpenAPI
document and the other way round, every limit the document states is the one enforced (read from the
document, tried through HTTP at the limit and one past it), and requests are held to their types."""

import pytest
from starlette.routing import Mount, Route

from identity import clients
from tests.api.helpers import ALL_TENANT_SCOPES, bearer, management_token, platform_token
from tests.factories import PASSWORD, make_tenant

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def served_api_operations(routes, prefix=""):
    """(method, path) of every route under an /api path in the running app's router, mounts included."""
    found = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= served_api_operations(route.routes, prefix + route.path)
        elif isinstance(route, Route) and "/api/" in prefix + route.path + "/":
            found |= {(method, prefix + route.path) for method in route.methods & HTTP_METHODS}
    return found


@pytest.fixture
def document(http):
    return http.get("/api/openapi.json").json()


def test_every_served_api_route_is_documented_and_every_documented_one_is_served(app, document):
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = served_api_operations(app.router.routes)
    assert served == documented
    assert len(served) >= 30


@pytest.fixture
def acme(ctx):
    return make_tenant(ctx)


@pytest.fixture
def tenant_api(http, ctx, acme):
    http.headers.update(bearer(management_token(http, ctx, acme, ALL_TENANT_SCOPES)))
    return http


def body_schema(document, path, method):
    ref = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def padded(prefix: str, length: int) -> str:
    return prefix + "a" * (length - len(prefix))


# (path, method, member, a valid body around the value, how to make a value of n characters)
STRING_LIMITS = [
    ("/t/{tenant}/api/clients", "post", "name", {"app_type": "m2m", "scopes": []}, lambda n: "n" * n),
    ("/t/{tenant}/api/clients", "post", "description", {"name": "A", "app_type": "m2m"}, lambda n: "d" * n),
    ("/t/{tenant}/api/clients", "post", "logo_url", {"name": "A", "app_type": "m2m"}, lambda n: padded("https://", n)),
    ("/t/{tenant}/api/users", "post", "name", {"password": PASSWORD}, lambda n: "u" * n),
    ("/t/{tenant}/api/scopes", "post", "description", {}, lambda n: "s" * n),
    ("/api/admin/tenants", "post", "name", {}, lambda n: "t" * n),
]


@pytest.mark.parametrize(("path", "method", "member", "base", "value"), STRING_LIMITS)
def test_documented_string_limits_are_the_enforced_ones(http, ctx, acme, document, path, method, member, base, value):
    if path.startswith("/api/admin"):
        token = platform_token(http, ctx)
    else:
        token = management_token(http, ctx, acme, ALL_TENANT_SCOPES)
    most = body_schema(document, path, method)["properties"][member]["maxLength"]
    url = path.replace("{tenant}", "acme")
    for n, (length, accepted) in enumerate([(most, True), (most + 1, False)]):
        body = {**base, member: value(length)}
        if path.endswith("/users"):
            body["email"] = f"user{n}@example.com"
        if path.endswith("/scopes"):
            body["name"] = f"scope{n}"
        if path.endswith("/tenants"):
            body["slug"] = f"limit{n}"
        response = http.request(method.upper(), url, json=body, headers=bearer(token))
        if accepted:
            assert response.status_code == 201, response.text
        else:
            assert response.status_code == 422 and member in response.json()["errors"], response.text


def test_the_documented_lifetime_ranges_are_the_enforced_ones(tenant_api, document):
    schema = body_schema(document, "/t/{tenant}/api/clients", "post")["properties"]
    for member, service_max in (
        ("access_token_ttl", clients.ACCESS_TOKEN_TTL_MAX),
        ("refresh_token_ttl", clients.REFRESH_TOKEN_TTL_MAX),
    ):
        (documented,) = [s for s in schema[member]["anyOf"] if s.get("type") == "integer"]
        assert (documented["minimum"], documented["maximum"]) == (clients.TTL_MIN, service_max)
        for value, status in [
            (documented["minimum"] - 1, 422),
            (documented["minimum"], 201),
            (documented["maximum"], 201),
            (documented["maximum"] + 1, 422),
        ]:
            body = {"name": "Web", "redirect_uris": ["https://rp.example/cb"], member: value}
            response = tenant_api.post("/t/acme/api/clients", json=body)
            assert response.status_code == status, (member, value, response.text)
            if status == 422:
                assert list(response.json()["errors"]) == [member]
            else:
                assert response.json()[member] == value


def test_the_service_behind_the_portal_enforces_the_same_limits():
    """The contract only repeats what the service checks: a spec past a limit is refused there too."""
    for field, value in [
        ("name", "n" * (clients.NAME_MAX + 1)),
        ("description", "d" * (clients.DESCRIPTION_MAX + 1)),
        ("logo_url", padded("https://", clients.LOGO_URL_MAX + 1)),
        ("redirect_uris", ["https://rp.example/" + "p" * clients.URI_MAX]),
        ("access_token_ttl", clients.ACCESS_TOKEN_TTL_MAX + 1),
        ("refresh_token_ttl", clients.TTL_MIN - 1),
    ]:
        spec = clients.ClientSpec(name="App", redirect_uris=["https://rp.example/cb"], app_type="web", public=False)
        setattr(spec, field, value)
        assert field in spec.problems({"openid": ""}, dev=False), field


def test_types_are_exact_and_unknown_members_refused(tenant_api):
    for body, member in [
        ({"name": "A", "colour": "red"}, "colour"),
        ({"name": None}, "name"),
        ({"name": 5}, "name"),
        ({"name": "A", "access_token_ttl": True}, "access_token_ttl"),
        ({"name": "A", "access_token_ttl": "3600"}, "access_token_ttl"),
        ({"name": "A", "access_token_ttl": 3600.0}, "access_token_ttl"),
        ({"name": "A", "redirect_uris": "https://rp.example/cb"}, "redirect_uris"),
        ({"name": "A", "redirect_uris": [7]}, "redirect_uris"),
        ({"name": "A", "grant_types": ["magic_link"]}, "grant_types"),
        ({"name": "A\x00"}, "name"),
        ({"name": "A", "redirect_uris": ["https://rp.example/cb"] * (clients.URIS_MAX + 1)}, "redirect_uris"),
        ({}, "name"),
    ]:
        response = tenant_api.post("/t/acme/api/clients", json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert member in problem["errors"] and problem["detail"].startswith(member), problem
    unknown = tenant_api.post("/t/acme/api/clients", json={"name": "A", "colour": "red"}).json()
    assert unknown["errors"] == {"colour": ["unknown member"]}


def test_a_change_touches_only_the_members_it_names(tenant_api):
    app = tenant_api.post(
        "/t/acme/api/clients",
        json={
            "name": "Web",
            "redirect_uris": ["https://rp.example/cb"],
            "description": "Ours",
            "access_token_ttl": 600,
        },
    ).json()
    url = f"/t/acme/api/clients/{app['client_id']}"
    renamed = tenant_api.patch(url, json={"name": "Web 2"}).json()
    assert (renamed["name"], renamed["description"], renamed["access_token_ttl"]) == ("Web 2", "Ours", 600)
    assert tenant_api.patch(url, json={"access_token_ttl": None}).json()["access_token_ttl"] is None  # the tenant's
    refused = tenant_api.patch(url, json={"description": None})
    assert refused.status_code == 422 and "description" in refused.json()["errors"]
    assert tenant_api.get(url).json()["description"] == "Ours"


def test_query_parameters_are_held_to_the_document(tenant_api, ctx, document):
    (limit,) = [p for p in document["paths"]["/t/{tenant}/api/users"]["get"]["parameters"] if p["name"] == "limit"]
    most = limit["schema"]["maximum"]
    assert tenant_api.get(f"/t/acme/api/users?limit={most}").status_code == 200
    for query in [f"limit={most + 1}", "limit=0", "limit=ten", "offset=-1", "q=%00", "limit=5&limit=6"]:
        response = tenant_api.get(f"/t/acme/api/users?{query}")
        assert response.status_code == 400, (query, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    admin = bearer(platform_token(tenant_api, ctx))
    assert tenant_api.get("/api/admin/tenants?status=suspended", headers=admin).status_code == 200
    assert tenant_api.get("/api/admin/tenants?status=deleted", headers=admin).status_code == 400
