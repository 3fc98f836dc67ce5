"""The SAML identity provider end-to-end tests sign in with, on loopback.

    python3 idp.py

It prints `listening http://127.0.0.1:PORT` once it serves, and exits when
its standard input closes (the test process ended).

`GET /__test/sp-keypair` gives a key and certificate for the gateway to
sign AuthnRequests with; `/sso` answers `request_signature`: `valid`,
`invalid` or `none`.

`GET /idp-initiated?acs=URL&sp=ENTITY_ID&login=NAME[&in_response_to=ID]`
answers the same way with a login the IdP starts (no AuthnRequest).

`GET /sso?SAMLRequest=…&RelayState=…&login=NAME[&mode=MODE]` is its single
sign-on endpoint (HTTP-Redirect binding): it inflates and reads the
AuthnRequest, and answers JSON `{"acs_url", "SAMLResponse", "RelayState"}`
for the test to post to the gateway's ACS, as a browser would.

Without `mode`, the response is made and signed by pysaml2 (response and
assertion, RSA-SHA256, via Debian's xmlsec1): a real IdP library. With a
`mode`, the response is written from the template below and signed by the
same xmlsec1 with one thing wrong, or tampered with after signing, as an
attacker would: see MODES.

It prints `certificate PATH` (its certificate, PEM) and
`expiring-certificate PATH` (another, valid 10 days) before it listens.

`GET /metadata/NAME` is its IdP metadata as pysaml2 writes it, listing
its signing certificate, or the other key's after
`POST /__test/metadata/NAME?signing=other` (a rotation, seen by a
provider that reads the metadata again), or answers 503 after
`?signing=down`; each answer counts as a fetch, and the `POST` answers
`{"fetches"}` so far. `POST /__test/sp-metadata`
loads an SP metadata document into pysaml2 and answers what pysaml2
read from it: `{"entity_id", "acs_url"}`, or 400 with pysaml2's error.
"""

import base64
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.config import IdPConfig
from saml2.mdstore import MetadataStore
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

WORK = tempfile.mkdtemp(prefix="saml-idp-")
ACCOUNTS = {
    "alice": {"email": ["alice@acme.test"], "groups": ["engineers", "admins"], "displayName": ["Alice"]},
    "bob": {"email": ["bob@acme.test"], "groups": ["viewers"], "displayName": ["Bob"]},
}


def key_and_cert(name, days=365):
    """A fresh RSA key and self-signed certificate valid `days`, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_file = os.path.join(WORK, f"{name}.key")
    cert_file = os.path.join(WORK, f"{name}.crt")
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


IDP_KEY, IDP_CERT = key_and_cert("idp")
OTHER_KEY, OTHER_CERT = key_and_cert("someone-else")
# A certificate an operator trusts next to the current one, expiring soon.
_, EXPIRING_CERT = key_and_cert("expiring", days=10)


def instant(offset_seconds=0):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


SIGNATURE_TEMPLATE = """<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sign_alg}"/><ds:Reference URI="#{ref}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest_alg}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"""

SHA256_ALGS = ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256")
SHA1_ALGS = ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1")


def template_response(request, login, fields):
    """A response from the template, with `fields` overriding what is normally right."""
    account = ACCOUNTS.get(login, {"email": [f"{login}@acme.test"], "groups": [], "displayName": [login]})
    values = {
        "response_id": "_r" + uuid.uuid4().hex,
        "assertion_id": "_a" + uuid.uuid4().hex,
        "issue_instant": instant(),
        "destination": request["acs_url"],
        "recipient": request["acs_url"],
        "in_response_to": request["id"],
        "audience": request["sp_entity_id"],
        "issuer": ISSUER,
        "not_before": instant(-60),
        "not_on_or_after": instant(300),
        "name_id": login,
        "sign_response": True,
        "sign_assertion": True,
        "algs": SHA256_ALGS,
        "key": (IDP_KEY, IDP_CERT),
    }
    values.update(fields)
    attributes = "".join(
        f'<saml:Attribute Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">'
        + "".join(f'<saml:AttributeValue xsi:type="xs:string">{v}</saml:AttributeValue>' for v in vals)
        + "</saml:Attribute>"
        for name, vals in account.items()
    )
    sign_alg, digest_alg = values["algs"]
    assertion_signature = (
        SIGNATURE_TEMPLATE.format(ref=values["assertion_id"], sign_alg=sign_alg, digest_alg=digest_alg)
        if values["sign_assertion"]
        else ""
    )
    response_signature = (
        SIGNATURE_TEMPLATE.format(ref=values["response_id"], sign_alg=sign_alg, digest_alg=digest_alg)
        if values["sign_response"]
        else ""
    )
    xml = (
        f'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
        f' ID="{values["response_id"]}" Version="2.0" IssueInstant="{values["issue_instant"]}"'
        f' Destination="{values["destination"]}" InResponseTo="{values["in_response_to"]}">'
        f'<saml:Issuer>{values["issuer"]}</saml:Issuer>{response_signature}'
        f'<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        f'<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' ID="{values["assertion_id"]}" Version="2.0" IssueInstant="{values["issue_instant"]}">'
        f'<saml:Issuer>{values["issuer"]}</saml:Issuer>{assertion_signature}'
        f'<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{values["name_id"]}</saml:NameID>'
        f'<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{values["not_on_or_after"]}" Recipient="{values["recipient"]}" InResponseTo="{values["in_response_to"]}"/>'
        f"</saml:SubjectConfirmation></saml:Subject>"
        f'<saml:Conditions NotBefore="{values["not_before"]}" NotOnOrAfter="{values["not_on_or_after"]}">'
        f'<saml:AudienceRestriction><saml:Audience>{values["audience"]}</saml:Audience></saml:AudienceRestriction></saml:Conditions>'
        f'<saml:AuthnStatement AuthnInstant="{values["issue_instant"]}"><saml:AuthnContext>'
        f"<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>"
        f"</saml:AuthnContext></saml:AuthnStatement>"
        f"<saml:AttributeStatement>{attributes}</saml:AttributeStatement>"
        f"</saml:Assertion></samlp:Response>"
    )
    key, cert = values["key"]
    if values["sign_assertion"]:
        xml = xmlsec_sign(xml, values["assertion_id"], key, cert)
    if values["sign_response"]:
        xml = xmlsec_sign(xml, values["response_id"], key, cert)
    return xml


def xmlsec_sign(xml, node_id, key, cert):
    """Signs the element with `node_id` with xmlsec1 (the signer pysaml2 uses)."""
    with tempfile.NamedTemporaryFile("w", suffix=".xml", dir=WORK, delete=False) as f:
        f.write(xml)
        path = f.name
    out = subprocess.run(
        [
            "xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}",
            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--node-id", node_id, path,
        ],
        capture_output=True,
        check=True,
    )
    os.unlink(path)
    return out.stdout.decode()


KNOWN_SPS = set()


def register_sp(request):
    """Loads the SP's metadata (its entity id and ACS, from its request)."""
    if request["sp_entity_id"] in KNOWN_SPS:
        return
    metadata = (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
        f' entityID="{request["sp_entity_id"]}"><md:SPSSODescriptor'
        ' protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"'
        f' Location="{request["acs_url"]}" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>'
    )
    SERVER.metadata.load("inline", metadata)
    KNOWN_SPS.add(request["sp_entity_id"])


def pysaml2_response(request, login):
    """The response pysaml2 makes for `login` (the honest IdP); with
    `request["id"]` None, a login the IdP starts itself."""
    register_sp(request)
    account = ACCOUNTS.get(login, {"email": [f"{login}@acme.test"], "groups": [], "displayName": [login]})
    return str(
        SERVER.create_authn_response(
            identity=account,
            in_response_to=request["id"],
            destination=request["acs_url"],
            sp_entity_id=request["sp_entity_id"],
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=login),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
    )


def strip_signatures(xml):
    return re.sub(r"<ds:Signature .*?</ds:Signature>", "", xml, flags=re.S)


def evil_copy(xml):
    """The honest assertion, unsigned, for `mallory`, under a new ID."""
    assertion = re.search(r"<saml:Assertion .*?</saml:Assertion>", xml, flags=re.S).group(0)
    evil = strip_signatures(assertion)
    evil = re.sub(r'ID="[^"]+"', 'ID="_evil' + uuid.uuid4().hex + '"', evil, count=1)
    return re.sub(r">alice<", ">mallory<", evil).replace("alice@acme.test", "mallory@acme.test")


def wrapped(xml, where):
    assertion = re.search(r"<saml:Assertion .*?</saml:Assertion>", xml, flags=re.S).group(0)
    evil = evil_copy(xml)
    if where == "before":
        return xml.replace(assertion, evil + assertion)
    if where == "after":
        return xml.replace(assertion, assertion + evil)
    # The signed assertion moved inside the evil one (its Advice), the
    # evil one in its place.
    inner = evil.replace("<saml:Subject>", "<saml:Advice>" + assertion + "</saml:Advice><saml:Subject>", 1)
    return xml.replace(assertion, inner)


def mode_response(request, login, mode):
    """The response for `mode`: one thing wrong, or tampered after signing."""
    if mode == "modified-attribute":
        return template_response(request, login, {}).replace("alice@acme.test", "mallory@acme.test")
    if mode in ("wrap-before", "wrap-after", "wrap-inside"):
        return wrapped(template_response(request, login, {"sign_response": False}), mode.split("-")[1])
    if mode == "move-signature":
        # The assertion's signature moved up to the unsigned response, and
        # the assertion changed.
        xml = template_response(request, login, {"sign_response": False})
        signature = re.search(r"<ds:Signature .*?</ds:Signature>", xml, flags=re.S).group(0)
        xml = xml.replace(signature, "")
        xml = xml.replace("</saml:Issuer><samlp:Status>", "</saml:Issuer>" + signature + "<samlp:Status>", 1)
        return xml.replace(">alice<", ">mallory<")
    if mode == "other-key":
        return template_response(request, login, {"key": (OTHER_KEY, OTHER_CERT)})
    if mode == "unsigned":
        return template_response(request, login, {"sign_response": False, "sign_assertion": False})
    if mode == "sha1":
        return template_response(request, login, {"algs": SHA1_ALGS})
    if mode == "audience":
        return template_response(request, login, {"audience": "https://another-sp.example/metadata"})
    if mode == "recipient":
        return template_response(request, login, {"recipient": "https://another-sp.example/acs"})
    if mode == "destination":
        return template_response(request, login, {"destination": "https://another-sp.example/acs"})
    if mode == "expired":
        return template_response(request, login, {"not_before": instant(-900), "not_on_or_after": instant(-600)})
    if mode == "not-yet-valid":
        return template_response(request, login, {"not_before": instant(600), "not_on_or_after": instant(900)})
    if mode == "unknown-in-response-to":
        return template_response(request, login, {"in_response_to": "_" + uuid.uuid4().hex})
    if mode == "comment-in-name-id":
        return template_response(request, login, {"name_id": "mallory<!-- -->" + login})
    if mode == "dtd-entities":
        xml = template_response(request, login, {})
        return '<!DOCTYPE r [<!ENTITY who "mallory">]>' + xml
    if mode == "issuer":
        return template_response(request, login, {"issuer": "http://127.0.0.1:1/another-idp"})
    raise ValueError(f"unknown mode {mode}")


def read_request(encoded):
    xml = zlib.decompress(base64.b64decode(encoded), -15).decode()
    root = ElementTree.fromstring(xml)
    issuer = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
    return {
        "id": root.get("ID"),
        "acs_url": root.get("AssertionConsumerServiceURL"),
        "destination": root.get("Destination"),
        "sp_entity_id": issuer.text if issuer is not None else None,
    }


# The key pair a test gives the gateway to sign its AuthnRequests with.
SP_KEY, SP_CERT = key_and_cert("service-provider")


def request_signature(raw_query):
    """`valid`, `invalid` or `none`: the HTTP-Redirect binding's signature
    over SAMLRequest, RelayState and SigAlg as sent (SAML bindings
    3.4.4.1), checked with the test SP's certificate."""
    parts = dict(p.split("=", 1) for p in raw_query.split("&") if "=" in p)
    if "Signature" not in parts:
        return "none"
    signed = "&".join(f"{k}={parts[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg") if k in parts)
    if unquote(parts.get("SigAlg", "")) != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":
        return "invalid"
    with open(SP_CERT, "rb") as f:
        public_key = x509.load_pem_x509_certificate(f.read()).public_key()
    try:
        public_key.verify(base64.b64decode(unquote(parts["Signature"])), signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return "valid"
    except Exception:
        return "invalid"


METADATA_SIGNING = {}
METADATA_FETCHES = {}


def idp_metadata(name):
    """pysaml2's IdP metadata, with the certificate NAME signs with now."""
    METADATA_FETCHES[name] = METADATA_FETCHES.get(name, 0) + 1
    xml = str(entity_descriptor(SERVER.config))
    if METADATA_SIGNING.get(name) == "other":
        def body(path):
            with open(path) as f:
                return "".join(f.read().strip().splitlines()[1:-1])
        xml = xml.replace(body(IDP_CERT), body(OTHER_CERT))
    return xml


def read_sp_metadata(xml):
    """What pysaml2 reads from an SP metadata document."""
    store = MetadataStore(attrc=SERVER.config.attribute_converters, config=SERVER.config)
    store.load("inline", xml)
    (entity_id,) = list(store.keys())
    (acs,) = store.assertion_consumer_service(entity_id, binding=BINDING_HTTP_POST)
    return {"entity_id": entity_id, "acs_url": acs["location"]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        if url.path == "/__test/sp-metadata":
            try:
                return self.answer(200, json.dumps(read_sp_metadata(body)))
            except Exception as error:  # the test sees why
                return self.answer(400, json.dumps({"error": repr(error)}))
        if url.path.startswith("/__test/metadata/"):
            name = url.path.removeprefix("/__test/metadata/")
            METADATA_SIGNING[name] = query.get("signing", "idp")
            return self.answer(200, json.dumps({"fetches": METADATA_FETCHES.get(name, 0)}))
        return self.answer(404, "{}")

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/__test/sp-keypair":
            with open(SP_KEY) as k, open(SP_CERT) as c:
                return self.answer(200, json.dumps({"private_key": k.read(), "certificate": c.read()}))
        if url.path.startswith("/metadata/"):
            name = url.path.removeprefix("/metadata/")
            if METADATA_SIGNING.get(name) == "down":
                METADATA_FETCHES[name] = METADATA_FETCHES.get(name, 0) + 1
                return self.answer(503, "{}")
            return self.answer(200, idp_metadata(name), "application/samlmetadata+xml")
        if url.path not in ("/sso", "/idp-initiated"):
            return self.answer(404, "{}")
        try:
            if url.path == "/idp-initiated":
                # No AuthnRequest: the SP's ACS and entity id in the query,
                # and `in_response_to` only to claim an answer to one.
                request = {
                    "id": query.get("in_response_to"),
                    "acs_url": query["acs"],
                    "destination": None,
                    "sp_entity_id": query["sp"],
                }
            else:
                request = read_request(query["SAMLRequest"])
            login = query.get("login", "alice")
            mode = query.get("mode")
            xml = mode_response(request, login, mode) if mode else pysaml2_response(request, login)
        except Exception as error:  # the test sees why
            return self.answer(400, json.dumps({"error": repr(error)}))
        return self.answer(
            200,
            json.dumps(
                {
                    "acs_url": request["acs_url"],
                    "request": request,
                    "SAMLResponse": base64.b64encode(xml.encode()).decode(),
                    "RelayState": query.get("RelayState", ""),
                    "request_signature": request_signature(url.query),
                }
            ),
        )


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
BASE = f"http://127.0.0.1:{server.server_address[1]}"
ISSUER = f"{BASE}/idp"
SERVER = Server(
    config=IdPConfig().load(
        {
            "entityid": ISSUER,
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(f"{BASE}/sso", BINDING_HTTP_REDIRECT)]},
                    "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None, "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}},
                }
            },
            "key_file": IDP_KEY,
            "cert_file": IDP_CERT,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {},
        }
    )
)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"certificate {IDP_CERT}", flush=True)
print(f"expiring-certificate {EXPIRING_CERT}", flush=True)
print(f"listening {BASE}", flush=True)
sys.stdin.read()
