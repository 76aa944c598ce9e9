"""Channel accounts through the API: credentials go in and never come out, not in answers,
lists, errors or connection-test messages."""

from __future__ import annotations

import responses

from campaign_manager.channels.models import AccountStatus, ChannelAccount

PROBLEM = "application/problem+json"
SECRET = "pm-server-token-7f3a9c2e5b1d4f6a8c0e"
NEW_SECRET = "pm-server-token-new-0a1b2c3d4e5f6a7b8c"


def create_postmark(api, client=None, **changes):
    body = {
        "adapter": "postmark",
        "display_name": "Coalition mail",
        "settings": {"message_stream": "broadcast"},
        "credentials": {"server_token": SECRET},
        "rate_limits": {"per_second": 10},
    }
    body.update(changes)
    return (client or api.marketer).post("/api/v1/channel-accounts", json=body)


def test_create_and_read_never_return_credentials(api, db):
    response = create_postmark(api)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert SECRET not in response.get_data(as_text=True)
    assert "credentials" not in body
    assert body["stored_credentials"] == ["server_token"]
    assert body["kind"] == "email" and body["status"] == "active"
    assert body["settings"] == {"message_stream": "broadcast"}
    assert body["rate_limits"] == {"per_second": 10.0, "per_hour": None, "per_day": None}
    stored = db.get(ChannelAccount, body["id"])
    assert stored.credentials == {"server_token": SECRET}  # encrypted at rest, readable here

    for client in (api.viewer, api.approver, api.admin):
        one = client.get(f"/api/v1/channel-accounts/{body['id']}")
        assert one.status_code == 200 and SECRET not in one.get_data(as_text=True)
        listed = client.get("/api/v1/channel-accounts?adapter=postmark")
        assert [a["id"] for a in listed.get_json()["data"]] == [body["id"]]
        assert SECRET not in listed.get_data(as_text=True)


def test_errors_never_echo_credentials(api):
    response = create_postmark(api, display_name="", settings={"message_stream": SECRET})
    assert response.status_code == 422
    assert SECRET not in response.get_data(as_text=True)
    assert response.get_json()["errors"][0]["field"] == "display_name"

    missing = create_postmark(api, credentials={})
    assert missing.status_code == 422
    assert missing.get_json()["errors"][0]["field"] == "credentials.server_token"

    bad_type = create_postmark(
        api, credentials={"server_token": SECRET}, rate_limits={"per_hour": 0}
    )
    assert bad_type.status_code == 422
    assert SECRET not in bad_type.get_data(as_text=True)

    unknown = create_postmark(api, adapter="nope")
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["field"] == "adapter"
    assert SECRET not in unknown.get_data(as_text=True)

    # An Idempotency-Key replay of a refused create is a stored problem: still no secret.
    headers = {"Idempotency-Key": "acct-1"}
    first = api.marketer.post(
        "/api/v1/channel-accounts",
        json={"adapter": "postmark", "display_name": "", "credentials": {"server_token": SECRET}},
        headers=headers,
    )
    again = api.marketer.post(
        "/api/v1/channel-accounts",
        json={"adapter": "postmark", "display_name": "", "credentials": {"server_token": SECRET}},
        headers=headers,
    )
    assert first.status_code == 422 and SECRET not in again.get_data(as_text=True)


def test_patch_keeps_or_replaces_credentials(api, db):
    account_id = create_postmark(api).get_json()["id"]
    path = f"/api/v1/channel-accounts/{account_id}"
    etag = api.marketer.get(path).headers["ETag"]
    renamed = api.marketer.patch(
        path,
        json={"display_name": "Renamed", "credentials": {"server_token": ""}},
        headers={"If-Match": etag},
    )
    assert renamed.status_code == 200, renamed.get_json()
    assert renamed.get_json()["display_name"] == "Renamed"
    db.expire_all()
    assert db.get(ChannelAccount, account_id).credentials == {"server_token": SECRET}

    stale = api.marketer.patch(path, json={"display_name": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    replaced = api.marketer.patch(
        path,
        json={"credentials": {"server_token": NEW_SECRET}},
        headers={"If-Match": renamed.headers["ETag"]},
    )
    assert replaced.status_code == 200
    assert NEW_SECRET not in replaced.get_data(as_text=True)
    db.expire_all()
    assert db.get(ChannelAccount, account_id).credentials == {"server_token": NEW_SECRET}


def test_connection_test_redacts_and_records(api, db):
    account_id = create_postmark(api).get_json()["id"]
    with responses.RequestsMock() as mock:
        mock.get("https://api.postmarkapp.com/server", json={"ID": 1, "Name": "Campaigns"})
        ok = api.marketer.post(f"/api/v1/channel-accounts/{account_id}/test")
        assert mock.calls[0].request.headers["X-Postmark-Server-Token"] == SECRET
    assert ok.status_code == 200
    assert ok.get_json() == {
        "ok": True,
        "message": "The connection works.",
        "needs_reconnect": False,
    }
    with responses.RequestsMock() as mock:
        mock.get(
            "https://api.postmarkapp.com/server",
            status=401,
            json={"ErrorCode": 10, "Message": "Bad or missing Server API token."},
        )
        refused = api.marketer.post(f"/api/v1/channel-accounts/{account_id}/test")
    assert refused.status_code == 200
    assert refused.get_json()["ok"] is False and refused.get_json()["needs_reconnect"] is True
    assert SECRET not in refused.get_data(as_text=True)
    assert api.viewer.get(f"/api/v1/channel-accounts/{account_id}").get_json()["status"] == (
        "needs_reconnect"
    )


def test_disable_enable_and_roles(api, db):
    account_id = create_postmark(api).get_json()["id"]
    path = f"/api/v1/channel-accounts/{account_id}"
    for role in ("viewer", "approver", "vendor"):
        client = getattr(api, role)
        assert client.post(f"{path}/disable").status_code == 403
        assert client.post(f"{path}/test").status_code == 403
        assert create_postmark(api, client).status_code == 403
    assert api.vendor.get(path).status_code == 403
    assert api.vendor.get("/api/v1/channel-accounts").status_code == 403
    assert api.anonymous.get(path).status_code == 401
    assert api.marketer.post(f"{path}/disable").get_json()["status"] == "disabled"
    db.expire_all()
    assert db.get(ChannelAccount, account_id).status is AccountStatus.DISABLED
    assert api.admin.post(f"{path}/enable").get_json()["status"] == "active"
    assert api.viewer.get("/api/v1/channel-accounts/999999").status_code == 404


def test_adapters_list_their_settings(api):
    adapters = {
        a["name"]: a for a in api.viewer.get("/api/v1/channel-accounts/adapters").get_json()["data"]
    }
    postmark = {f["name"]: f for f in adapters["postmark"]["fields"]}
    assert postmark["server_token"]["secret"] is True
    assert postmark["message_stream"]["secret"] is False


def test_list_pages_by_cursor(api, make_account):
    ids = [make_account("sandbox_email", name=f"Box {n}").id for n in range(3)]
    first = api.viewer.get("/api/v1/channel-accounts?limit=2").get_json()
    second = api.viewer.get(f"/api/v1/channel-accounts?limit=2&cursor={first['next_cursor']}")
    assert [a["id"] for a in first["data"] + second.get_json()["data"]] == ids


def test_a_credential_that_is_not_text_is_refused_without_echo(api):
    response = create_postmark(api, credentials={"server_token": {"nested": SECRET}})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"].startswith("credentials")
    assert SECRET not in response.get_data(as_text=True)
