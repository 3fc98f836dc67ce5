use super::*;
use portcullis_sealing::seal::{Destination, seal};

const HERE: Expected<'static> = Expected {
    org: "org_a",
    environment: "env_1",
    connection: "con_1",
};

fn to(version: u64) -> Destination<'static> {
    Destination {
        org: HERE.org,
        environment: HERE.environment,
        connection: HERE.connection,
        version,
    }
}

#[test]
fn every_recipient_opens_its_seal() {
    let a = AgentKeyPair::generate();
    let b = AgentKeyPair::generate();
    let sealed = seal(b"s3cret", &to(1), &[a.public(), b.public()]).expect("sealed");
    assert_eq!(
        a.open(&sealed, &HERE).expect("a opens").as_slice(),
        b"s3cret"
    );
    assert_eq!(
        b.open(&sealed, &HERE).expect("b opens").as_slice(),
        b"s3cret"
    );
}

#[test]
fn only_the_agents_sealed_to_open() {
    let a = AgentKeyPair::generate();
    let outsider = AgentKeyPair::generate();
    let sealed = seal(b"s3cret", &to(1), &[a.public()]).expect("sealed");
    assert_eq!(
        outsider.open(&sealed, &HERE),
        Err(OpenError::NotARecipient(outsider.public().id().to_string()))
    );
    // Relabelling the seal with the outsider's id does not help: the key
    // id is bound into the seal, and the outsider's key cannot decapsulate.
    let mut relabelled = sealed.clone();
    relabelled.recipients[0].agent_key_id = outsider.public().id().to_string();
    assert!(matches!(
        outsider.open(&relabelled, &HERE),
        Err(OpenError::Integrity { .. })
    ));
}

#[test]
fn a_seal_moved_anywhere_else_does_not_open() {
    let a = AgentKeyPair::generate();
    let sealed = seal(b"s3cret", &to(3), &[a.public()]).expect("sealed");
    for elsewhere in [
        Expected {
            connection: "con_2",
            ..HERE
        },
        Expected {
            environment: "env_2",
            ..HERE
        },
        Expected {
            org: "org_b",
            ..HERE
        },
    ] {
        assert_eq!(
            a.open(&sealed, &elsewhere),
            Err(OpenError::Integrity {
                connection: elsewhere.connection.to_string(),
                version: 3
            }),
            "{elsewhere:?}"
        );
    }
    // Replayed under another version number.
    let mut replayed = sealed.clone();
    replayed.version = 4;
    assert!(matches!(
        a.open(&replayed, &HERE),
        Err(OpenError::Integrity { .. })
    ));
}

#[test]
fn a_tampered_ciphertext_fails_its_integrity_check() {
    let a = AgentKeyPair::generate();
    let sealed = seal(b"s3cret", &to(1), &[a.public()]).expect("sealed");
    let mut bytes = decode_base64url(&sealed.recipients[0].ciphertext, "c").expect("b64");
    bytes[0] ^= 1;
    let mut tampered = sealed.clone();
    tampered.recipients[0].ciphertext = encode_base64url(&bytes);
    assert!(matches!(
        a.open(&tampered, &HERE),
        Err(OpenError::Integrity { .. })
    ));
    let mut short = sealed.clone();
    short.recipients[0].ciphertext = encode_base64url(&bytes[..TAG_LEN - 1]);
    assert!(matches!(
        a.open(&short, &HERE),
        Err(OpenError::Malformed { .. })
    ));
    let mut bad_enc = sealed;
    bad_enc.recipients[0].enc = encode_base64url(&[1; 31]);
    assert!(matches!(
        a.open(&bad_enc, &HERE),
        Err(OpenError::Malformed { .. })
    ));
}

#[test]
fn the_private_key_file_round_trips_and_never_prints() {
    let a = AgentKeyPair::generate();
    let again = AgentKeyPair::from_private_base64url(&a.to_private_base64url()).expect("read");
    assert_eq!(again.public(), a.public());
    let sealed = seal(b"s3cret", &to(1), &[a.public()]).expect("sealed");
    assert_eq!(
        again.open(&sealed, &HERE).expect("opens").as_slice(),
        b"s3cret"
    );
    assert!(!format!("{a:?}").contains(a.to_private_base64url().as_str()));
    assert_eq!(
        AgentKeyPair::from_private_base64url("short").err(),
        Some(OpenError::BadPrivateKey)
    );
}
