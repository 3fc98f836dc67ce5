use super::*;

const GROUPS: &[&str] = &["admins", "ops", "Ünïcode group: 1,2"];
const AMR: &[&str] = &["pwd", "mfa"];
const ATTRIBUTES: &[(&str, &str)] = &[("dept", "data"), ("", "")];
const CONTEXT: &[(&str, &str)] = &[("method", "GET")];

fn sample() -> CheckRequest<'static> {
    CheckRequest {
        wants_receipt: false,
        principal: PrincipalView {
            subject: "usr_1",
            issuer: "local",
            organization: Some("org_a"),
            user_id: Some("usr_1"),
            api_key_id: None,
            email: Some("kim@example.com"),
            display_name: Some("Kim Ø 12:3"),
            groups: Strings::of(GROUPS),
            amr: Strings::of(AMR),
            attributes: Pairs::of(ATTRIBUTES),
        },
        action: "connections:read",
        resource: "orgs/org_a/connections/con_1",
        context: Pairs::of(CONTEXT),
    }
}

#[test]
fn round_trips_every_field() {
    let mut buffer = String::new();
    for request in [sample(), CheckRequest::default()] {
        encode(&request, &mut buffer);
        assert_eq!(CheckRequest::decode(&buffer), Ok(request));
    }
}

#[test]
fn decoded_lists_read_the_buffer() {
    let mut buffer = String::new();
    encode(&sample(), &mut buffer);
    let decoded = CheckRequest::decode(&buffer).unwrap();
    let groups: Vec<&str> = decoded.principal.groups.iter().collect();
    assert_eq!(groups, GROUPS);
    assert_eq!(decoded.principal.groups.len(), 3);
    assert!(decoded.principal.amr.contains("mfa"));
    assert!(!decoded.principal.amr.contains("mf"));
    assert_eq!(decoded.principal.attributes.get("dept"), Some("data"));
    assert_eq!(decoded.principal.attributes.get("missing"), None);
    assert_eq!(decoded.context.iter().collect::<Vec<_>>(), CONTEXT);
}

#[test]
fn owned_and_borrowed_lists_encode_alike() {
    let owned: Vec<String> = GROUPS.iter().map(|g| g.to_string()).collect();
    let mut with_owned = sample();
    with_owned.principal.groups = Strings::of_owned(&owned);
    let (mut a, mut b) = (String::new(), String::new());
    encode(&sample(), &mut a);
    encode(&with_owned, &mut b);
    assert_eq!(a, b);
}

#[test]
fn refuses_what_encode_never_writes() {
    let mut buffer = String::new();
    encode(&sample(), &mut buffer);
    for cut in 0..buffer.len() {
        if let Some(prefix) = buffer.get(..cut) {
            assert!(
                CheckRequest::decode(prefix).is_err(),
                "a prefix of {cut} bytes decoded"
            );
        }
    }
    let longer = format!("{buffer}x");
    assert_eq!(
        CheckRequest::decode(&longer),
        Err(DecodeError::TrailingBytes(1))
    );
    let versioned = buffer.replacen('2', "1", 1);
    assert_eq!(
        CheckRequest::decode(&versioned),
        Err(DecodeError::UnknownVersion('1'))
    );
    assert_eq!(
        CheckRequest::decode("2\0\0*"),
        Err(DecodeError::BadFlag('*'))
    );
    assert_eq!(
        CheckRequest::decode("2\0\0Ø"),
        Err(DecodeError::BadFlag('Ø'))
    );
    assert_eq!(CheckRequest::decode("2Ø"), Err(DecodeError::BadNumber));
    assert_eq!(
        CheckRequest::decode("2\x40\x40\x40\x40\x40\x40\x01"),
        Err(DecodeError::BadNumber),
        "more than six digits"
    );
}

#[test]
fn lengths_of_every_size_round_trip() {
    let long = "x".repeat(300_000);
    let mut buffer = String::new();
    for n in [0, 1, 63, 64, 65, 4095, 4096, 262_143, 262_144, 300_000] {
        let mut request = sample();
        request.resource = &long[..n];
        encode(&request, &mut buffer);
        let decoded = CheckRequest::decode(&buffer).unwrap();
        assert_eq!(decoded.resource.len(), n);
        assert_eq!(decoded, request);
    }
}

#[test]
fn a_forged_count_ends_at_the_end_of_the_buffer() {
    // Four billion groups announced, none present: refused without
    // walking or reserving anything.
    let forged = "2\0\0-----\x43\x7f\x7f\x7f\x7f\x3f";
    assert_eq!(CheckRequest::decode(forged), Err(DecodeError::Truncated));
}

#[test]
fn a_length_that_cuts_a_character_is_refused() {
    // "Ø" is two bytes; a length of 1 would split it.
    assert_eq!(CheckRequest::decode("2\x01Ø"), Err(DecodeError::Truncated));
}

struct Claims(Vec<(String, String)>);

impl PairList for Claims {
    fn pair_count(&self) -> usize {
        self.0.len()
    }
    fn pair(&self, index: usize) -> Option<(&str, &str)> {
        self.0.get(index).map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[test]
fn lent_pairs_encode_like_borrowed_ones() {
    let claims = Claims(
        ATTRIBUTES
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    );
    let mut lent = sample();
    lent.principal.attributes = Pairs::lent(&claims);
    let (mut a, mut b) = (String::new(), String::new());
    encode(&sample(), &mut a);
    encode(&lent, &mut b);
    assert_eq!(a, b);
    assert_eq!(lent.principal.attributes, sample().principal.attributes);
}
