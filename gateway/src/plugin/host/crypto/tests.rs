//! Positive and negative checks of every key encoding and algorithm family.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

const RSA_PKCS8: &[u8] = include_bytes!("testdata/rsa-test-key.pk8.der");
const RSA_PUBLIC_PEM: &str = include_str!("testdata/rsa-test-key.pub.pem");
const MESSAGE: &[u8] = b"header.payload";

fn rsa_sign(params: &'static dyn ring::signature::RsaEncoding) -> (Vec<u8>, RsaKeyPair) {
    let key = RsaKeyPair::from_pkcs8(RSA_PKCS8).unwrap();
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(params, &SystemRandom::new(), MESSAGE, &mut signature)
        .unwrap();
    (signature, key)
}

fn rsa_jwk(key: &RsaKeyPair) -> String {
    let (seq, _) = der::expect(key.public_key().as_ref(), der::Tag::SEQUENCE).unwrap();
    let (n, rest) = der::expect(seq, der::Tag::INTEGER).unwrap();
    let (e, _) = der::expect(rest, der::Tag::INTEGER).unwrap();
    let n = n.strip_prefix(&[0]).unwrap_or(n);
    format!(
        r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(n),
        URL_SAFE_NO_PAD.encode(e)
    )
}

#[test]
fn rs256_verifies_with_pem_and_jwk_and_rejects_tampering() {
    let (signature, key) = rsa_sign(&ring::signature::RSA_PKCS1_SHA256);
    let pem = PublicKey::Pem(RSA_PUBLIC_PEM.into());
    let jwk = PublicKey::Jwk(rsa_jwk(&key));
    for key in [&pem, &jwk] {
        assert_eq!(
            verify_signature(SignatureAlgorithm::Rs256, key, MESSAGE, &signature),
            Ok(true)
        );
        assert_eq!(
            verify_signature(
                SignatureAlgorithm::Rs256,
                key,
                b"header.payloaD",
                &signature
            ),
            Ok(false)
        );
        assert_eq!(
            verify_signature(SignatureAlgorithm::Rs384, key, MESSAGE, &signature),
            Ok(false)
        );
    }
}

#[test]
fn ps256_verifies() {
    let (signature, _) = rsa_sign(&ring::signature::RSA_PSS_SHA256);
    let pem = PublicKey::Pem(RSA_PUBLIC_PEM.into());
    assert_eq!(
        verify_signature(SignatureAlgorithm::Ps256, &pem, MESSAGE, &signature),
        Ok(true)
    );
    assert_eq!(
        verify_signature(SignatureAlgorithm::Rs256, &pem, MESSAGE, &signature),
        Ok(false)
    );
}

#[test]
fn es256_verifies_via_jwk_and_certificate() {
    let rng = SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let signature = key.sign(&rng, MESSAGE).unwrap();
    let point = key.public_key().as_ref();
    let jwk = format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..])
    );
    let jwk = PublicKey::Jwk(jwk);
    assert_eq!(
        verify_signature(SignatureAlgorithm::Es256, &jwk, MESSAGE, signature.as_ref()),
        Ok(true)
    );
    assert_eq!(
        verify_signature(
            SignatureAlgorithm::Es256,
            &jwk,
            b"other",
            signature.as_ref()
        ),
        Ok(false)
    );

    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_ref()),
        &rcgen::PKCS_ECDSA_P256_SHA256,
    )
    .unwrap();
    let cert = rcgen::CertificateParams::new(vec!["idp.test".into()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap();
    let pem = PublicKey::Pem(cert.pem());
    assert_eq!(
        verify_signature(SignatureAlgorithm::Es256, &pem, MESSAGE, signature.as_ref()),
        Ok(true)
    );
}

#[test]
fn ed25519_verifies_and_family_mismatch_is_an_error() {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let signature = key.sign(MESSAGE);
    let jwk = PublicKey::Jwk(format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.public_key().as_ref())
    ));
    assert_eq!(
        verify_signature(
            SignatureAlgorithm::Ed25519,
            &jwk,
            MESSAGE,
            signature.as_ref()
        ),
        Ok(true)
    );
    assert_eq!(
        verify_signature(SignatureAlgorithm::Rs256, &jwk, MESSAGE, signature.as_ref()),
        Err(CryptoError::KeyAlgorithmMismatch)
    );
}

#[test]
fn garbage_keys_are_errors_not_panics() {
    for key in [
        PublicKey::Jwk("{".into()),
        PublicKey::Jwk(r#"{"kty":"RSA","n":"!!","e":"AQAB"}"#.into()),
        PublicKey::Pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into()),
        PublicKey::Pem("nothing".into()),
        PublicKey::Pem("-----BEGIN -----END -----".into()),
        PublicKey::Pem("-----BEGIN PUBLIC KEY-----".into()),
        PublicKey::Pem("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----".into()),
    ] {
        assert!(matches!(
            verify_signature(SignatureAlgorithm::Rs256, &key, MESSAGE, b"sig"),
            Err(CryptoError::InvalidKey(_))
        ));
    }
}

#[test]
fn digests_and_hmac_match_known_vectors() {
    assert_eq!(
        hex::encode(digest(HashAlgorithm::Sha256, b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // RFC 2202 test case 2 (HMAC-SHA1, as TOTP uses it).
    assert_eq!(
        hex::encode(hmac(
            HashAlgorithm::Sha1,
            b"Jefe",
            b"what do ya want for nothing?"
        )),
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    );
    // RFC 6238 appendix B, T = 59 s: the 8-digit SHA-1 TOTP is 94287082.
    let mac = hmac(
        HashAlgorithm::Sha1,
        b"12345678901234567890",
        &1u64.to_be_bytes(),
    );
    let offset = usize::from(mac[19] & 0x0f);
    let code = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    assert_eq!(code % 100_000_000, 94_287_082);
    // RFC 4231 test case 2.
    assert_eq!(
        hex::encode(hmac(
            HashAlgorithm::Sha256,
            b"Jefe",
            b"what do ya want for nothing?"
        )),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn key_parsers_never_panic_on_arbitrary_input() {
    use base64::engine::general_purpose::STANDARD;
    // A fixed-seed xorshift generator: reproducible, no extra dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid_spki = {
        let text = RSA_PUBLIC_PEM;
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()
    };
    for round in 0..20_000 {
        let len = (next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 {
            // Mutate a real SubjectPublicKeyInfo, to reach deep into the DER walker.
            bytes = valid_spki.clone();
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            bytes.truncate((next() as usize) % (bytes.len() + 1));
        }
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            STANDARD.encode(&bytes)
        );
        let cert = pem.replace("PUBLIC KEY", "CERTIFICATE");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for key in [
            PublicKey::Pem(pem),
            PublicKey::Pem(cert),
            PublicKey::Pem(text.clone()),
            PublicKey::Jwk(text),
        ] {
            let _ = verify_signature(SignatureAlgorithm::Rs256, &key, MESSAGE, b"sig");
        }
    }
}

fn private_pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[test]
fn signatures_made_with_a_plugins_private_key_verify_and_wrong_keys_are_errors() {
    let rsa = private_pem(RSA_PKCS8);
    let signature = sign(SignatureAlgorithm::Rs256, &rsa, MESSAGE).unwrap();
    let public = PublicKey::Pem(RSA_PUBLIC_PEM.into());
    assert_eq!(
        verify_signature(SignatureAlgorithm::Rs256, &public, MESSAGE, &signature),
        Ok(true)
    );
    assert_eq!(
        verify_signature(SignatureAlgorithm::Rs256, &public, b"other", &signature),
        Ok(false)
    );
    let random = SystemRandom::new();
    let ec = EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &random).unwrap();
    let ec_pem = private_pem(ec.as_ref());
    let signature = sign(SignatureAlgorithm::Es256, &ec_pem, MESSAGE).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, ec.as_ref(), &random)
            .unwrap();
    assert!(
        sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
            .verify(MESSAGE, &signature)
            .is_ok()
    );
    assert!(matches!(
        sign(SignatureAlgorithm::Rs256, &ec_pem, MESSAGE),
        Err(CryptoError::InvalidKey(_))
    ));
    assert_eq!(
        sign(SignatureAlgorithm::Ps256, &rsa, MESSAGE),
        Err(CryptoError::KeyAlgorithmMismatch)
    );
    assert!(matches!(
        sign(SignatureAlgorithm::Rs256, RSA_PUBLIC_PEM, MESSAGE),
        Err(CryptoError::InvalidKey(_))
    ));
}
