//! Turning JWKs, PEM public keys and PEM certificates into the raw key
//! bytes `ring` verifies with.

use super::der::{self, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Key families, each verified by a group of algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// RSA (PKCS#1 v1.5 and PSS).
    Rsa,
    /// ECDSA on P-256.
    Ec256,
    /// ECDSA on P-384.
    Ec384,
    /// Ed25519.
    Ed25519,
}

/// A parsed public key in the form `ring` wants: RSA as a DER
/// `RSAPublicKey`, EC as an uncompressed point, Ed25519 as 32 bytes.
#[derive(Debug)]
pub struct KeyMaterial {
    /// The family.
    pub family: Family,
    /// The key bytes.
    pub bytes: Vec<u8>,
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn b64url(field: &str, value: Option<&str>) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("jwk is missing `{field}`"))?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("jwk `{field}` is not base64url"))
}

/// Parses a JSON Web Key.
pub fn from_jwk(json: &str) -> Result<KeyMaterial, String> {
    let jwk: serde_json::Value =
        serde_json::from_str(json).map_err(|_| "jwk is not JSON".to_string())?;
    let field = |name: &str| jwk.get(name).and_then(|v| v.as_str());
    match field("kty") {
        Some("RSA") => {
            let n = b64url("n", field("n"))?;
            let e = b64url("e", field("e"))?;
            Ok(KeyMaterial {
                family: Family::Rsa,
                bytes: der::rsa_public_key(&n, &e),
            })
        }
        Some("EC") => {
            let family = match field("crv") {
                Some("P-256") => Family::Ec256,
                Some("P-384") => Family::Ec384,
                other => return Err(format!("unsupported EC curve {other:?}")),
            };
            let mut point = vec![0x04];
            point.extend(b64url("x", field("x"))?);
            point.extend(b64url("y", field("y"))?);
            Ok(KeyMaterial {
                family,
                bytes: point,
            })
        }
        Some("OKP") if field("crv") == Some("Ed25519") => Ok(KeyMaterial {
            family: Family::Ed25519,
            bytes: b64url("x", field("x"))?,
        }),
        other => Err(format!("unsupported jwk kty {other:?}")),
    }
}

/// Parses a PEM `PUBLIC KEY` or `CERTIFICATE`.
pub fn from_pem(pem: &str) -> Result<KeyMaterial, String> {
    let (label, body) = pem_block(pem)?;
    match label.as_str() {
        "PUBLIC KEY" => from_spki(&body),
        "CERTIFICATE" => from_spki(certificate_spki(&body)?),
        other => Err(format!("unsupported PEM block `{other}`")),
    }
}

/// The DER of a PEM `PRIVATE KEY` (PKCS#8).
pub fn private_key_der(pem: &str) -> Result<Vec<u8>, String> {
    match pem_block(pem)? {
        (label, der) if label == "PRIVATE KEY" => Ok(der),
        (label, _) => Err(format!(
            "expected a PEM `PRIVATE KEY` (PKCS#8), found `{label}`"
        )),
    }
}

fn pem_block(pem: &str) -> Result<(String, Vec<u8>), String> {
    let (_, after_begin) = pem.split_once("-----BEGIN ").ok_or("no PEM block")?;
    let (label, after_header) = after_begin.split_once("-----").ok_or("bad PEM header")?;
    let (body, _) = after_header
        .split_once("-----END ")
        .ok_or("no PEM footer")?;
    let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let body = STANDARD
        .decode(text)
        .map_err(|_| "PEM body is not base64".to_string())?;
    Ok((label.to_string(), body))
}

/// The SubjectPublicKeyInfo inside an X.509 certificate.
fn certificate_spki(cert: &[u8]) -> Result<&[u8], String> {
    let (certificate, _) = der::expect(cert, Tag::SEQUENCE)?;
    let (tbs, _) = der::expect(certificate, Tag::SEQUENCE)?;
    let mut rest = tbs;
    // Optional [0] version.
    if rest.first() == Some(&0xa0) {
        rest = der::read(rest)?.2;
    }
    // serial, signature algorithm, issuer, validity, subject.
    for _ in 0..5 {
        rest = der::read(rest)?.2;
    }
    let (tag, _, after) = der::read(rest)?;
    if tag != Tag::SEQUENCE {
        return Err("certificate has no public key info".into());
    }
    Ok(&rest[..rest.len() - after.len()])
}

fn from_spki(spki: &[u8]) -> Result<KeyMaterial, String> {
    let (info, _) = der::expect(spki, Tag::SEQUENCE)?;
    let (algorithm, rest) = der::expect(info, Tag::SEQUENCE)?;
    let (key_bits, _) = der::expect(rest, Tag::BIT_STRING)?;
    let key = key_bits
        .split_first()
        .filter(|(unused, _)| **unused == 0)
        .ok_or("bad key bit string")?
        .1;
    let (oid, params) = der::expect(algorithm, Tag::OID)?;
    let family = match oid {
        OID_RSA => Family::Rsa,
        OID_ED25519 => Family::Ed25519,
        OID_EC => match der::expect(params, Tag::OID)?.0 {
            OID_P256 => Family::Ec256,
            OID_P384 => Family::Ec384,
            _ => return Err("unsupported EC curve".into()),
        },
        _ => return Err("unsupported public key algorithm".into()),
    };
    Ok(KeyMaterial {
        family,
        bytes: key.to_vec(),
    })
}
