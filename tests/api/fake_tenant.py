"""A small fake tenant for the API's unit tests: discovery, JWKS, an on-behalf-of token endpoint and
Graph's `/me`, over HTTPS on loopback, with an RSA key generated here to forge tokens of any shape.

It checks nothing a real tenant would; it answers what a test tells it to and records every call, so
a test can show which checks the API makes itself. The real emulator's OBO is used in
tests/api/test_with_emulator.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from tests.support.servers import ServerThread, free_port

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_ME_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Recorded:
    token_requests: list[dict[str, str]] = field(default_factory=list)
    graph_requests: list[dict[str, Any]] = field(default_factory=list)


class FakeTenant:
    def __init__(self, directory: Path) -> None:
        self.tenant_id = str(uuid.uuid4())
        self.api_client_id = str(uuid.uuid4())
        self.web_client_id = str(uuid.uuid4())
        self.user_id = str(uuid.uuid4())
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fake-key-1"
        self.ca = trustme.CA(organization_name="ciam-api fake tenant CA")
        certificate = self.ca.issue_cert("127.0.0.1")
        self.ca_bundle = directory / "fake-tenant-ca.pem"
        self.ca_bundle.write_bytes(self.ca.cert_pem.bytes())
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        # Like Entra's CIAM issuer: not on the host the tenant is served from (entra-notes §12).
        self.issuer = f"https://{self.tenant_id}.ciamlogin.test/{self.tenant_id}/v2.0"
        self.authority = f"{self.base_url}/{self.tenant_id}"
        self.graph_endpoint = f"{self.base_url}/graph/v1.0"
        self.recorded = Recorded()
        self.token_answers: list[tuple[int, dict[str, Any]]] = []
        self.graph_answers: list[tuple[int, dict[str, Any] | None, dict[str, str]]] = []
        self.profile: dict[str, Any] = {}
        self.graph_delay = 0.0  # seconds Graph waits before answering
        self._lock = threading.Lock()
        self.reset()
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certificate.configure_cert(server_context)
        self._server = ServerThread(
            make_server("127.0.0.1", self.port, self._app(), threaded=True, ssl_context=server_context)
        )

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            # A request still in flight from an earlier test (a delayed Graph) must not touch this one's state.
            self.generation = getattr(self, "generation", 0) + 1
            self.recorded = Recorded()
            self.token_answers = []
            self.graph_answers = []
            self.graph_delay = 0.0
            self.profile = {
                "id": self.user_id,
                "mail": "ada@example.com",
                "userPrincipalName": f"{self.user_id}@fake.onmicrosoft.com",
                "displayName": "Ada",
                "givenName": "Ada",
                "surname": "Lovelace",
                "jobTitle": None,
                "streetAddress": None,
                "city": "London",
                "state": None,
                "postalCode": None,
                "country": None,
                "preferredLanguage": "en-GB",
            }

    # -- tokens ---------------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.api_client_id,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "azp": self.web_client_id,
            "azpacr": "1",
            "oid": self.user_id,
            "sub": b64url(hashlib.sha256(self.user_id.encode()).digest()),
            "scp": "User.MFA",
            "tid": self.tenant_id,
            "uti": b64url(uuid.uuid4().bytes),
            "ver": "2.0",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None, **overrides: Any) -> str:
        """A token signed like the tenant signs (RS256, its key), with any claim changed or dropped (None)."""
        return jwt.encode(
            self.claims(**overrides), key or self.key, algorithm="RS256", headers={"kid": kid or self.kid, "typ": "JWT"}
        )

    # -- the fake's HTTP side -------------------------------------------------------------------

    def _app(self) -> Flask:
        app = Flask("fake_tenant")
        tenant = self

        @app.get(f"/{self.tenant_id}/v2.0/.well-known/openid-configuration")
        def discovery() -> Response:
            base = f"{tenant.base_url}/{tenant.tenant_id}"
            return jsonify(
                issuer=tenant.issuer,
                authorization_endpoint=f"{base}/oauth2/v2.0/authorize",
                token_endpoint=f"{base}/oauth2/v2.0/token",
                end_session_endpoint=f"{base}/oauth2/v2.0/logout",
                jwks_uri=f"{base}/discovery/v2.0/keys",
                response_types_supported=["code"],
                subject_types_supported=["pairwise"],
                id_token_signing_alg_values_supported=["RS256"],
            )

        @app.get(f"/{self.tenant_id}/discovery/v2.0/keys")
        def keys() -> Response:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(tenant.key.public_key()))
            jwk.update(kid=tenant.kid, use="sig", kty="RSA")
            return jsonify(keys=[jwk])

        @app.post(f"/{self.tenant_id}/oauth2/v2.0/token")
        def token() -> Response:
            form = request.form.to_dict()
            with tenant._lock:
                tenant.recorded.token_requests.append(form)
                answer = tenant.token_answers.pop(0) if tenant.token_answers else None
            if answer is not None:
                status, body = answer
                return Response(json.dumps(body), status=status, content_type="application/json")
            assertion = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
            scopes = [s for s in form.get("scope", "").split() if s not in ("openid", "profile", "offline_access")]
            info = b64url(json.dumps({"uid": assertion["oid"], "utid": assertion["tid"]}).encode())
            return jsonify(
                token_type="Bearer",
                access_token=f"graph-token-{uuid.uuid4().hex}",
                expires_in=3599,
                ext_expires_in=3599,
                scope=" ".join(scopes),
                refresh_token=f"refresh-{uuid.uuid4().hex}",
                client_info=info,
            )

        @app.route("/graph/v1.0/me", methods=["GET", "PATCH"])
        def me() -> Response:
            with tenant._lock:
                generation = tenant.generation
                tenant.recorded.graph_requests.append(
                    {
                        "method": request.method,
                        "authorization": request.headers.get("Authorization", ""),
                        "json": request.get_json(silent=True),
                        "args": request.args.to_dict(),
                    }
                )
            time.sleep(tenant.graph_delay)
            with tenant._lock:
                if generation != tenant.generation:
                    return Response(status=503)
                answer = tenant.graph_answers.pop(0) if tenant.graph_answers else None
                if answer is not None:
                    status, body, headers = answer
                    return Response(
                        json.dumps(body) if body is not None else "",
                        status=status,
                        headers=headers,
                        content_type="application/json",
                    )
                if request.method == "PATCH":
                    tenant.profile.update(request.get_json())
                    return Response(status=204)
                return jsonify({"@odata.context": GRAPH_ME_CONTEXT, **tenant.profile})

        return app


def graph_error(status: int, code: str, message: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": str(uuid.uuid4())}}}
