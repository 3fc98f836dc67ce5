//! Every way a token can be wrong is refused.

use super::*;

const NOW: i64 = 1_800_000_000;

fn keys() -> SigningKeys {
    let mut keys = SigningKeys::new("https://gw.example", "portcullis-api");
    keys.rotate().unwrap();
    keys
}

fn claims() -> Claims {
    Claims {
        iss: "https://gw.example".into(),
        aud: "portcullis-api".into(),
        sub: "alice".into(),
        sid: "s1".into(),
        amr: vec!["pwd".into(), "otp".into()],
        iat: NOW,
        exp: NOW + 300,
    }
}

fn forge(header: &serde_json::Value, payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload),
        b64(signature)
    )
}

#[test]
fn a_valid_token_verifies_and_round_trips_claims() {
    let keys = keys();
    let token = keys.issue(&claims()).unwrap();
    assert_eq!(keys.verify(&token, NOW + 10), Ok(claims()));
}

#[test]
fn alg_none_and_hs256_with_the_public_key_are_refused() {
    let keys = keys();
    let token = keys.issue(&claims()).unwrap();
    let kid = token.split('.').next().map(|h| {
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_string()
    });
    let payload = serde_json::to_vec(&claims()).unwrap();

    let none = forge(
        &serde_json::json!({"alg": "none", "kid": kid}),
        &payload,
        b"",
    );
    assert_eq!(
        keys.verify(&none, NOW),
        Err(TokenError::Algorithm("none".into()))
    );

    // The classic confusion attack: HMAC keyed with the published public key.
    let jwks = keys.jwks();
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let header = serde_json::json!({"alg": "HS256", "kid": kid});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(&payload));
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public),
        input.as_bytes(),
    );
    let hs256 = format!("{input}.{}", b64(mac.as_ref()));
    assert_eq!(
        keys.verify(&hs256, NOW),
        Err(TokenError::Algorithm("HS256".into()))
    );
}

#[test]
fn expired_future_unknown_kid_and_modified_payload_are_refused() {
    let keys = keys();
    let token = keys.issue(&claims()).unwrap();
    assert_eq!(
        keys.verify(&token, NOW + 300 + 31),
        Err(TokenError::Expired)
    );
    assert_eq!(keys.verify(&token, NOW - 100), Err(TokenError::NotYetValid));
    assert_eq!(
        keys.verify(&token, NOW + 300 + 29),
        Ok(claims()),
        "within leeway"
    );

    let other = self::keys();
    assert_eq!(other.verify(&token, NOW), Err(TokenError::UnknownKey));

    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut forged = claims();
    forged.sub = "admin".into();
    parts[1] = b64(&serde_json::to_vec(&forged).unwrap());
    assert_eq!(
        keys.verify(&parts.join("."), NOW),
        Err(TokenError::Signature)
    );

    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert!(
        keys.verify(std::str::from_utf8(&tampered).unwrap(), NOW)
            .is_err()
    );

    for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
        assert!(keys.verify(garbage, NOW).is_err(), "{garbage}");
    }
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let keys = keys();
    let mut wrong = claims();
    wrong.aud = "another-service".into();
    let token = keys.issue(&wrong).unwrap();
    assert_eq!(keys.verify(&token, NOW), Err(TokenError::WrongAudience));
}

#[test]
fn rotation_overlaps_then_retires() {
    let mut keys = keys();
    let old_token = keys.issue(&claims()).unwrap();
    keys.rotate().unwrap();
    let new_token = keys.issue(&claims()).unwrap();
    assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
    assert!(
        keys.verify(&old_token, NOW).is_ok(),
        "old tokens verify during the overlap"
    );
    assert!(keys.verify(&new_token, NOW).is_ok());
    keys.retire_all_but(1);
    assert_eq!(keys.verify(&old_token, NOW), Err(TokenError::UnknownKey));
    assert!(keys.verify(&new_token, NOW).is_ok());
    assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 1);
}
