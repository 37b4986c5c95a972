"""Scenarios 1 and 2 (spec §7): login and the `user` cookie, and user creation, over plain HTTP."""

from __future__ import annotations

import re

import httpx

from tests.dialects.streamingbandit.live import PASSWORD, SbServer, ServerPool

COOKIE = re.compile(
    r'^user="2\|1:0\|10:(\d{10})\|4:user\|(\d+):([A-Za-z0-9+/=]+)\|([0-9a-f]{64})"; Expires=[^;]+ GMT; '
    r"Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax$"
)


def error(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == response.status_code
    return response.status_code, body["error"]["message"]


def test_login_cookie_and_logout(sb_server: SbServer) -> None:
    username = sb_server.account("carol")
    with sb_server.anonymous() as http:
        assert error(http.post("/login", json={"username": username, "password": "wrong"})) == (
            401,
            "Wrong username or password!",
        )
        assert error(http.post("/login", json={"username": username}))[0] == 400
        response = http.post("/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert COOKIE.match(cookie), cookie
        assert "Secure" not in cookie
        assert http.get("/exp").status_code == 200  # the client sends the cookie back

        value = http.cookies["user"].strip('"')
        tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
        with sb_server.anonymous() as other:
            assert other.get("/exp", headers={"Cookie": f'user="{value}"'}).status_code == 200
            assert error(other.get("/exp", headers={"Cookie": f'user="{tampered}"'})) == (
                401,
                "Could not validate user.",
            )

        logout = http.get("/logout")
        assert logout.status_code == 200 and logout.content == b""
        assert "Max-Age=0" in logout.headers["set-cookie"]
        assert error(http.get("/exp")) == (401, "Could not validate user.")


def test_two_installs_sign_the_same_account_id_differently(sb_servers: ServerPool) -> None:
    signatures = []
    for _ in range(2):
        server = sb_servers.fresh("sqlite")
        username = server.account("first")
        with server.anonymous() as http:
            response = http.post("/login", json={"username": username, "password": PASSWORD})
            found = COOKIE.match(response.headers["set-cookie"])
            assert found
            signatures.append((found.group(3), found.group(4)))
    assert signatures[0][0] == signatures[1][0]  # the same account id (the first of each install)...
    assert signatures[0][1] != signatures[1][1]  # ...signed with each install's own secret


def test_user_creation_by_admins_only(sb_server: SbServer) -> None:
    admin = sb_server.client("root", admin=True)
    user = sb_server.client("plain")
    new_name = sb_server.account("taken") + "-new"

    assert admin.http.post("/user", json={"username": new_name, "password": "pass-1"}).json() == {
        "status": "success"
    }
    assert error(admin.http.post("/user", json={"username": new_name, "password": "pass-1"})) == (
        400,
        "User already exists.",
    )
    assert error(admin.http.post("/user", json={"username": "someone"}))[0] == 400
    assert error(user.http.post("/user", json={"username": "x1", "password": "p"})) == (
        401,
        "You are not an admin.",
    )
    with sb_server.anonymous() as http:
        assert error(http.post("/user", json={"username": "x2", "password": "p"})) == (
            401,
            "Could not validate user.",
        )
        # the new account logs in here and in another dialect (Bender's login, then its /user/)
        assert http.post("/login", json={"username": new_name, "password": "pass-1"}).status_code == 200
        token = http.post("/login/", json={"username": new_name, "password": "pass-1"}).json()["token"]
        me = http.get("/user/", headers={"Authorization": f"JWT {token}"})
        assert me.status_code == 200 and me.json()["username"] == new_name
