"""Browser-style (cookie) authentication: mutations need Jupyter's XSRF token."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import urlencode


def cookies_of(response) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {key: morsel.value for key, morsel in jar.items()}


async def test_cookie_mutations_need_xsrf(http_server_client, jp_base_url, jp_serverapp, fake):
    login = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    cookies = cookies_of(login)
    xsrf = cookies["_xsrf"]
    token = jp_serverapp.identity_provider.token
    response = await http_server_client.fetch(
        f"{jp_base_url}login",
        method="POST",
        body=urlencode({"password": token, "_xsrf": xsrf}),
        headers={"Cookie": f"_xsrf={xsrf}"},
        follow_redirects=False,
        raise_error=False,
    )
    assert response.code == 302, response.body
    cookies.update(cookies_of(response))
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())

    # Reading with the login cookie works.
    response = await http_server_client.fetch(f"{jp_base_url}dask-k8s/clusters", headers={"Cookie": cookie_header})
    assert response.code == 200

    # A forged cross-site POST carries the cookie but not the XSRF token: refused, nothing created.
    response = await http_server_client.fetch(
        f"{jp_base_url}dask-k8s/clusters", method="POST", body=json.dumps({"name": "forged"}),
        headers={"Cookie": cookie_header}, raise_error=False,
    )
    assert response.code == 403
    assert "xsrf" in json.loads(response.body)["message"].lower()
    assert fake.get("DaskCluster", "team-a", "forged") is None
    for method, path in [("PATCH", "clusters/team-a/x"), ("DELETE", "clusters/team-a/x")]:
        response = await http_server_client.fetch(
            f"{jp_base_url}dask-k8s/{path}", method=method, body=b"{}" if method == "PATCH" else None,
            headers={"Cookie": cookie_header}, raise_error=False,
        )
        assert response.code == 403, method

    # The front end sends the token back in X-XSRFToken: accepted.
    response = await http_server_client.fetch(
        f"{jp_base_url}dask-k8s/clusters", method="POST", body=json.dumps({"name": "legit"}),
        headers={"Cookie": cookie_header, "X-XSRFToken": xsrf}, raise_error=False,
    )
    assert response.code == 201, response.body
    assert fake.get("DaskCluster", "team-a", "legit") is not None
