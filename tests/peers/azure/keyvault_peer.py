"""Azure Key Vault (secrets) and Microsoft Entra ID's token endpoint on
loopback: a test double that follows the published REST contracts, since
no real Key Vault runs outside Azure.

Contract followed (Key Vault REST API, api-versions 2025-07-01, 2026-04-01 and the
7.x versions; Entra ID v2.0 client-credentials grant):

- `GET /secrets/{name}[/{version}]?api-version=V` over HTTPS. Without
  `api-version`: 400 `BadParameter`; an unknown one: 400 `BadParameter`.
  Without a valid bearer token: 401 with
  `WWW-Authenticate: Bearer authorization="{authority}/{tenant}",
  resource="https://vault.azure.net"`. A missing secret or version: 404
  `SecretNotFound`; a disabled one: 403 `Forbidden` (inner error
  `SecretDisabled`). Otherwise 200 `{"value", "id":
  "{vault}/secrets/{name}/{version}", "attributes": {...}}`. Errors are
  `{"error": {"code", "message"}}`. Throttling is 429 with `Retry-After`.
- `POST /keys/{name}[/{version}]/wrapkey` and `/unwrapkey` with
  `{"alg": "RSA-OAEP-256", "value": base64url}` -> `{"kid":
  "{vault}/keys/{name}/{version}", "value": base64url}`; a key that is not
  there: 404 `KeyNotFound`; another algorithm or a value that does not
  decrypt: 400 `BadParameter`.
- `GET /{tenant}/v2.0/.well-known/openid-configuration` (what MSAL reads
  first) names the token endpoint.
- `POST /{tenant}/oauth2/v2.0/token` (form: `grant_type=client_credentials`,
  `client_id`, `client_secret`, `scope=https://vault.azure.net/.default`)
  -> `{"token_type": "Bearer", "expires_in": 3599, "access_token"}`; a wrong
  secret: 401 `invalid_client` (AADSTS7000215); an unknown tenant: 400
  `invalid_request` (AADSTS90002).

Tests steer it over a second, plain-HTTP port: `POST /__test/secret`
(`{"name", "value", "enabled"}`, answers the new version), `POST
/__test/key` (`{"name"}`: a new RSA-2048 version, answers it), `POST
/__test/throttle` (`{"count"}`: the next N authorized reads get 429),
`POST /__test/challenge` (`{"tenant"}`: the tenant the 401 challenge
names), `GET /__test/stats`.

Prints `listening https://127.0.0.1:PORT http://127.0.0.1:PORT CA_FILE`
(the private CA its HTTPS certificate chains to)
once it serves, and stops when its standard input closes.
"""

import base64
import datetime
import ipaddress
import json
import secrets
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

TENANT = "6a0e9b1c-3c4f-4a57-9d2e-7b1f0c5a8e42"
CLIENT_ID = "3f2d1c0b-portcullis-test-client"
CLIENT_SECRET = "entra-client-secret-for-the-double-0123"
RESOURCE = "https://vault.azure.net"
API_VERSIONS = {"7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}

lock = threading.Lock()
state = {
    # name -> list of {"version", "value", "enabled", "created"}
    "secrets": {},
    # name -> list of {"version", "key"} (RSA private keys)
    "keys": {},
    "tokens": {},  # token -> expiry (epoch seconds)
    "throttle": 0,
    "challenge_tenant": TENANT,
    "stats": {
        "token_requests": 0,
        "challenges": 0,
        "throttled": 0,
        "reads": 0,
        "wraps": 0,
        "unwraps": 0,
        "api_versions": [],
    },
}


def certificate(directory: str) -> tuple[str, str, str]:
    """A private CA and a server certificate it signed for 127.0.0.1 and
    localhost (a CA certificate cannot serve as the server's own); the
    paths of the CA certificate, the server's chain and its key."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyvault double CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    server = build(name, ca_name, key.public_key(), ca_key, False)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    paths = (f"{directory}/ca.crt", f"{directory}/server-chain.crt", f"{directory}/server.key")
    with open(paths[0], "wb") as f:
        f.write(pem(ca))
    with open(paths[1], "wb") as f:
        f.write(pem(server) + pem(ca))
    with open(paths[2], "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


class Vault(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    vault_url = ""

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def reply(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, code: str, message: str, headers=None, inner=None) -> None:
        error = {"code": code, "message": message}
        if inner:
            error["innererror"] = {"code": inner}
        self.reply(status, {"error": error}, headers)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def admitted(self, query: dict) -> bool:
        """Answers (and returns False) unless the request names a known
        api-version, carries a valid bearer token and is not throttled."""
        version = (query.get("api-version") or [None])[0]
        if version is None:
            self.error(400, "BadParameter", "The 'api-version' query parameter is missing.")
            return False
        if version not in API_VERSIONS:
            self.error(
                400,
                "BadParameter",
                f"The specified version ({version}) is not recognized. Consider using the latest supported version (2025-07-01).",
            )
            return False
        authorization = self.headers.get("Authorization") or ""
        with lock:
            state["stats"]["api_versions"].append(version)
            expiry = state["tokens"].get(authorization.removeprefix("Bearer ").strip())
            if not authorization.startswith("Bearer ") or expiry is None or expiry < time.time():
                state["stats"]["challenges"] += 1
                challenge = (
                    f'Bearer authorization="{self.vault_url}/{state["challenge_tenant"]}", '
                    f'resource="{RESOURCE}"'
                )
                self.error(
                    401,
                    "Unauthorized",
                    "AKV10000: Request is missing a Bearer or PoP token.",
                    {"WWW-Authenticate": challenge},
                )
                return False
            if state["throttle"] > 0:
                state["throttle"] -= 1
                state["stats"]["throttled"] += 1
                self.error(
                    429,
                    "Throttled",
                    "Rate limit is exceeded. Try again in 1 seconds.",
                    {"Retry-After": "1"},
                )
                return False
        return True

    def key_operation(self, segments: list, query: dict) -> None:
        """`/keys/{name}[/{version}]/wrapkey` or `/unwrapkey`."""
        operation = segments[-1]
        name = segments[1]
        wanted = segments[2] if len(segments) == 4 else None
        body = self.body()
        if not self.admitted(query):
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self.error(400, "BadParameter", "The request body is not JSON.")
        if request.get("alg") != "RSA-OAEP-256":
            return self.error(400, "BadParameter", f"Algorithm {request.get('alg')!r} is not supported here.")
        value = request.get("value") or ""
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        with lock:
            versions = [v for v in state["keys"].get(name, []) if wanted in (None, v["version"])]
            key = versions[-1] if versions else None
            state["stats"]["wraps" if operation == "wrapkey" else "unwraps"] += 1
        if key is None:
            return self.error(
                404,
                "KeyNotFound",
                f"A key with (name/id) {'/'.join(segments[1:-1])} was not found in this key vault.",
            )
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        try:
            if operation == "wrapkey":
                result = key["key"].public_key().encrypt(data, oaep)
            else:
                result = key["key"].decrypt(data, oaep)
        except ValueError:
            return self.error(400, "BadParameter", "The parameter value is not valid for this operation.")
        self.reply(
            200,
            {
                "kid": f"{self.vault_url}/keys/{name}/{key['version']}",
                "value": base64.urlsafe_b64encode(result).rstrip(b"=").decode(),
            },
        )

    def do_POST(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "token"]:
            return self.token(segments[0])
        query = urllib.parse.parse_qs(parts.query)
        segments = [s for s in segments if s]
        if segments[:1] == ["keys"] and len(segments) in (3, 4) and segments[-1] in ("wrapkey", "unwrapkey"):
            return self.key_operation(segments, query)
        self.error(404, "NotFound", "no such endpoint")

    def token(self, tenant: str) -> None:
        form = urllib.parse.parse_qs(self.body().decode())
        field = lambda name: (form.get(name) or [""])[0]  # noqa: E731
        with lock:
            state["stats"]["token_requests"] += 1
        if tenant != TENANT:
            return self.reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                },
            )
        if field("grant_type") != "client_credentials":
            return self.reply(400, {"error": "unsupported_grant_type"})
        if field("client_id") != CLIENT_ID or field("client_secret") != CLIENT_SECRET:
            return self.reply(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        if field("scope") != f"{RESOURCE}/.default":
            return self.reply(
                400,
                {"error": "invalid_scope", "error_description": "AADSTS70011: The provided value for scope is not valid."},
            )
        token = secrets.token_urlsafe(32)
        with lock:
            state["tokens"][token] = time.time() + 3599
        self.reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    def discovery(self, tenant: str) -> None:
        """The tenant's OpenID configuration, which MSAL reads first."""
        if tenant != TENANT:
            return self.reply(
                400,
                {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."},
            )
        base = f"{self.vault_url}/{tenant}"
        self.reply(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            },
        )

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query)
        segments = parts.path.strip("/").split("/")
        if segments[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self.discovery(segments[0])
        if segments[0] != "secrets" or len(segments) not in (2, 3):
            return self.error(404, "NotFound", "no such endpoint")
        if not self.admitted(query):
            return
        with lock:
            state["stats"]["reads"] += 1
            versions = state["secrets"].get(segments[1], [])
            wanted = segments[2] if len(segments) == 3 else None
            found = [v for v in versions if wanted in (None, v["version"])]
            secret = found[-1] if found else None
        if secret is None:
            return self.error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {'/'.join(segments[1:])} was not found in this key vault.",
            )
        if not secret["enabled"]:
            return self.error(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner="SecretDisabled"
            )
        self.reply(
            200,
            {
                "value": secret["value"],
                "id": f"{self.vault_url}/secrets/{segments[1]}/{secret['version']}",
                "attributes": {
                    "enabled": True,
                    "created": secret["created"],
                    "updated": secret["created"],
                    "recoveryLevel": "Recoverable+Purgeable",
                    "recoverableDays": 90,
                },
                "tags": {},
            },
        )


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        with lock:
            stats = json.loads(json.dumps(state["stats"]))
        self.reply(stats)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with lock:
            if self.path == "/__test/secret":
                version = secrets.token_hex(16)
                state["secrets"].setdefault(body["name"], []).append(
                    {
                        "version": version,
                        "value": body["value"],
                        "enabled": body.get("enabled", True),
                        "created": int(time.time()),
                    }
                )
                return self.reply({"version": version})
            if self.path == "/__test/key":
                version = secrets.token_hex(16)
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                state["keys"].setdefault(body["name"], []).append({"version": version, "key": key})
                return self.reply({"version": version})
            if self.path == "/__test/throttle":
                state["throttle"] = int(body["count"])
                return self.reply({"throttle": state["throttle"]})
            if self.path == "/__test/challenge":
                state["challenge_tenant"] = body.get("tenant") or TENANT
                return self.reply({"tenant": state["challenge_tenant"]})
        self.send_error(404)


def main() -> None:
    directory = tempfile.mkdtemp(prefix="keyvault-double-")
    ca_path, chain_path, key_path = certificate(directory)
    vault = ThreadingHTTPServer(("127.0.0.1", 0), Vault)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(chain_path, key_path)
    vault.socket = context.wrap_socket(vault.socket, server_side=True)
    Vault.vault_url = f"https://127.0.0.1:{vault.server_address[1]}"
    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    for server in (vault, control):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(
        f"listening {Vault.vault_url} http://127.0.0.1:{control.server_address[1]} {ca_path}",
        flush=True,
    )
    sys.stdin.read()
    vault.shutdown()
    control.shutdown()


if __name__ == "__main__":
    main()
