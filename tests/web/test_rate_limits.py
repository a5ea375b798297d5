"""Request rate limits (webapp/limits.py): they fire with 429, Retry-After and a clear answer, count per address,
signer and token, and, in Redis, hold across app instances (processes, nodes)."""
import os
import socket
import uuid

import pytest

from tests.conftest import NO_RATE_LIMITS, Browser
from tests.web.test_sign_in_throttle import post_login
from webapp import create_app
from workflows.demo import DEMO_PASSWORD

REDIS = ("127.0.0.1", 6379)


def limited_app(database_url, tmp_path, **limits):
    """An app whose limits are ``limits`` (the others out of reach)."""
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "APP_ENV": "development",
                       "INSTANCE_PATH": str(tmp_path), "TESTING": True, **NO_RATE_LIMITS, **limits})


@pytest.fixture
def small_limits(database_url, tmp_path):
    app = limited_app(database_url, tmp_path, RATELIMIT_SIGN_IN="2 per minute", RATELIMIT_VERIFY="1 per minute",
                      RATELIMIT_TSA="1 per minute", RATELIMIT_API="3 per minute", RATELIMIT_INTENT_SIGNER="1 per hour",
                      RATELIMIT_INTENT_ADDRESS="3 per hour")
    yield app
    app.extensions["qianyue"].db.dispose()


def token(app, username):
    platform = app.extensions["qianyue"]
    with platform.db.write() as session:
        return {"Authorization": f"Bearer {platform.accounts.create_token(session, username)}"}


def assert_limited(response):
    assert response.status_code == 429, response.get_data(as_text=True)[:300]
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    return response


@pytest.mark.slow  # two passwords hashed
def test_sign_in_posts_are_limited_per_address_across_the_staff_and_identity_provider_forms(small_limits):
    web = Browser(small_limits)
    assert post_login(web, "/login", "sales", "wrong").status_code == 401
    assert post_login(web, "/idp/login", "xu.yongli", "wrong").status_code == 401
    page = assert_limited(post_login(web, "/login", "sales", DEMO_PASSWORD))
    assert "请求过于频繁" in page.get_data(as_text=True)  # the page says so, in the visitor's language
    assert web.get("/login").status_code == 200  # the form itself is not limited
    elsewhere = Browser(small_limits)
    elsewhere.client.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert post_login(elsewhere, "/login", "sales", DEMO_PASSWORD).status_code == 302


def test_verify_uploads_are_limited_per_address(small_limits):
    client = small_limits.test_client()
    assert client.post("/verify", data={}).status_code == 422
    assert_limited(client.post("/verify", data={}))
    assert client.post("/verify", data={}, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 422


def test_time_stamp_requests_are_limited_per_token_and_anonymous_ones_per_address(small_limits):
    client, node = small_limits.test_client(), token(small_limits, "admin")
    assert client.post("/tsa", data=b"x", content_type="text/plain", headers=node).status_code == 415
    assert_limited(client.post("/tsa", data=b"x", content_type="text/plain", headers=node))
    assert client.post("/tsa", data=b"x", content_type="text/plain").status_code == 401  # before anyone looks it up
    assert_limited(client.post("/tsa", data=b"x", content_type="text/plain"))
    assert client.post("/tsa", data=b"x", content_type="text/plain",
                       headers=token(small_limits, "admin")).status_code == 415  # another token


def test_the_api_is_limited_per_token_with_a_json_error(small_limits):
    client, legal = small_limits.test_client(), token(small_limits, "legal")
    for _ in range(3):
        assert client.get("/api/v1/tasks", headers=legal).status_code == 200
    refused = assert_limited(client.get("/api/v1/tasks", headers=legal))
    assert refused.json["error"] == "too_many_requests" and refused.json["fields"] == {}
    assert "token" in refused.json["message"]
    assert client.get("/api/v1/tasks", headers=token(small_limits, "legal")).status_code == 200  # another token


def test_code_requests_are_limited_per_signer_on_every_route_and_per_address(small_limits):
    client = small_limits.test_client()
    signatory = token(small_limits, "signatory")
    assert client.post("/api/v1/contracts/999999/intent", headers=signatory).status_code == 404  # counted all the same
    assert_limited(client.post("/api/v1/tasks/no-such-task/intent", headers=signatory))  # one budget per signer
    web = Browser(small_limits)
    assert web.sign_in("signatory").status_code == 302
    assert_limited(web.post("/tasks/no-such-task/intent", page="/inbox"))  # the task page counts with the API
    for user in ("legal", "finance"):  # another signer has their own budget; the address runs out after 3
        assert client.post("/api/v1/contracts/999999/intent", headers=token(small_limits, user)).status_code in (404, 409)
    refused = assert_limited(client.post("/api/v1/contracts/999999/intent", headers=token(small_limits, "sales")))
    assert "address" in refused.json["message"]


def test_the_shipped_limits_are_valid_and_a_wrong_one_stops_the_app(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "APP_ENV": "development",
                      "INSTANCE_PATH": str(tmp_path)})
    assert app.test_client().post("/verify", data={}).status_code == 422
    app.extensions["qianyue"].db.dispose()
    with pytest.raises(RuntimeError, match="RATELIMIT_VERIFY"):
        limited_app(database_url, tmp_path, RATELIMIT_VERIFY="ten a minute")


def redis_reachable():
    try:
        socket.create_connection(REDIS, timeout=1).close()
        return True
    except OSError:
        return False


def test_two_app_instances_share_the_count_in_redis(database_url, tmp_path):
    """Two apps (as two processes or nodes would be) naming one Redis count together; with memory:// they do not."""
    if not redis_reachable():
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis at {REDIS[0]}:{REDIS[1]} is not reachable (REQUIRE_REDIS=1)")
        pytest.skip(f"Redis at {REDIS[0]}:{REDIS[1]} is not reachable")

    def pair(storage):
        prefix = f"test-{uuid.uuid4().hex}"  # this test's own counts, whoever else uses the server
        return [limited_app(database_url, tmp_path / f"{storage[:5]}{n}", RATELIMIT_VERIFY="2 per minute",
                            RATELIMIT_STORAGE_URI=storage, RATELIMIT_KEY_PREFIX=prefix).test_client() for n in (1, 2)]

    first, second = pair(f"redis://{REDIS[0]}:{REDIS[1]}/0")
    assert first.post("/verify", data={}).status_code == 422
    assert second.post("/verify", data={}).status_code == 422
    assert_limited(first.post("/verify", data={}))
    assert_limited(second.post("/verify", data={}))
    first, second = pair("memory://")
    assert [first.post("/verify", data={}).status_code for _ in range(2)] == [422, 422]
    assert second.post("/verify", data={}).status_code == 422  # a process of its own: its own count
