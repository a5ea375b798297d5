"""WeCom (企业微信) and DingTalk (钉钉) sign-in through their adapters, against a local stand-in that speaks their
documented protocols (authorize redirect with code/authCode and state; their token and user calls)."""
import json
import threading

import pytest
from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

from tests.conftest import free_port
from tests.web.customer_flow import LiveApp, new_http
from workflows.models import CustomerIdentity

pytestmark = pytest.mark.slow


def stand_in():
    """One fake WeCom + DingTalk: the user 'approves' at once, the API answers as the documentation says."""
    app = Flask("standin")
    calls = []

    @app.get("/wwlogin/sso/login")
    def wecom_authorize():
        assert request.args["appid"] == "corp1" and request.args["agentid"] == "1000002"
        return redirect(f"{request.args['redirect_uri']}?code=WECOMCODE&state={request.args['state']}")

    @app.get("/cgi-bin/gettoken")
    def wecom_token():
        calls.append("gettoken")
        ok = request.args.to_dict() == {"corpid": "corp1", "corpsecret": "s3cret"}
        return jsonify({"errcode": 0, "errmsg": "ok", "access_token": "AT", "expires_in": 7200} if ok
                       else {"errcode": 40001, "errmsg": "invalid credential"})

    @app.get("/cgi-bin/auth/getuserinfo")
    def wecom_userinfo():
        if request.args.get("code") != "WECOMCODE" or request.args.get("access_token") != "AT":
            return jsonify({"errcode": 40029, "errmsg": "invalid code"})
        return jsonify({"errcode": 0, "errmsg": "ok", "userid": "ZhangSan", "user_ticket": "TICKET"})

    @app.post("/cgi-bin/auth/getuserdetail")
    def wecom_detail():
        assert request.get_json()["user_ticket"] == "TICKET"
        return jsonify({"errcode": 0, "errmsg": "ok", "userid": "ZhangSan", "biz_mail": "zhangsan@corp.example"})

    @app.get("/cgi-bin/user/get")
    def wecom_member():
        return jsonify({"errcode": 0, "errmsg": "ok", "userid": "ZhangSan", "name": "张三"})

    @app.get("/oauth2/auth")
    def dingtalk_authorize():
        assert request.args["client_id"] == "dingkey" and request.args["response_type"] == "code"
        return redirect(f"{request.args['redirect_uri']}?authCode=DINGCODE&state={request.args['state']}")

    @app.post("/v1.0/oauth2/userAccessToken")
    def dingtalk_token():
        body = request.get_json()
        if body != {"clientId": "dingkey", "clientSecret": "dingsecret", "code": "DINGCODE", "grantType": "authorization_code"}:
            return jsonify({"code": "InvalidAuthCode", "message": "bad"}), 400
        return jsonify({"accessToken": "DT", "refreshToken": "R", "expireIn": 7200, "corpId": "ding123"})

    @app.get("/v1.0/contact/users/me")
    def dingtalk_me():
        if request.headers.get("x-acs-dingtalk-access-token") != "DT":
            return jsonify({"code": "InvalidAuthentication"}), 401
        return jsonify({"nick": "李四", "unionId": "UNION-LISI", "openId": "OPEN-LISI", "email": "lisi@corp.example"})

    return app, calls


@pytest.fixture
def standin():
    app, calls = stand_in()
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", calls
    server.shutdown()


@pytest.fixture
def live(database_url, tmp_path, standin):
    base, _calls = standin
    providers = [
        {"name": "wecom", "kind": "wecom", "title": "企业微信", "corp_id": "corp1", "agent_id": "1000002", "secret": "s3cret",
         "authorize_url": f"{base}/wwlogin/sso/login", "api_base": base, "trust_email": True},
        {"name": "dingtalk", "kind": "dingtalk", "title": "钉钉", "app_key": "dingkey", "app_secret": "dingsecret",
         "authorize_url": f"{base}/oauth2/auth", "api_base": base},
    ]
    server = LiveApp(database_url, tmp_path, OIDC_PROVIDERS=json.dumps(providers))
    yield server
    server.close()


@pytest.mark.parametrize("provider, issuer, subject, name, email, verified", [
    ("wecom", "wecom:corp1", "ZhangSan", "张三", "zhangsan@corp.example", True),
    ("dingtalk", "dingtalk:dingkey", "UNION-LISI", "李四", "lisi@corp.example", False),
])
def test_adapter_sign_in(live, provider, issuer, subject, name, email, verified):
    http = new_http()
    portal = http.get(f"{live.base}/auth/oidc/login?provider={provider}")
    assert portal.status_code == 200 and portal.url == f"{live.base}/portal", portal.text[:300]
    assert name in portal.text
    with live.platform.db.read() as session:
        identity = session.exec(CustomerIdentity.__table__.select().where(CustomerIdentity.issuer != "qianyue:api")).one()
    assert (identity.issuer, identity.subject, identity.name, identity.email, identity.email_verified) == \
        (issuer, subject, name, email, verified)


def test_adapter_refuses_unknown_state(live):
    http = new_http()
    assert http.get(f"{live.base}/auth/oidc/callback?code=WECOMCODE&state=wecom.forged").status_code == 400
    with live.platform.db.read() as session:
        assert session.exec(CustomerIdentity.__table__.select().where(CustomerIdentity.issuer != "qianyue:api")).first() is None
