//! The compact encoding of one authorizer check (`authorize.check` in the
//! WIT contract): the principal, the action, the resource and the context
//! in a single byte buffer.
//!
//! Every string or list handed to a guest costs one allocation inside it
//! (~0.35 µs through the component boundary). A check used to lower about
//! eight of them; one buffer lowers once. The gateway encodes with
//! [`encode`] into a reused buffer; the SDK decodes with
//! [`CheckRequest::decode`] into views that borrow the buffer, so a plugin
//! reads every field without copying.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! u8      format version (FORMAT_VERSION)
//! str     subject            str  = u32 length, then UTF-8 bytes
//! str     issuer
//! opt     organization       opt  = u8 0 (absent) | u8 1, then str
//! opt     user id
//! opt     API key id
//! opt     email
//! opt     display name
//! list    groups             list = u32 count, then each item
//! list    amr
//! pairs   attributes         pairs = u32 count, then name str, value str
//! str     action
//! str     resource
//! pairs   context
//! ```
//!
//! Nothing may follow the last field.
#![deny(missing_docs)]

/// The version of the layout above; a decoder refuses any other.
pub const FORMAT_VERSION: u8 = 1;

/// Who is asking, as the authorizer sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalView<'a> {
    /// Stable identifier within the issuer.
    pub subject: &'a str,
    /// The provider that vouched for the principal (set by the gateway).
    pub issuer: &'a str,
    /// The principal's organization (set by the gateway, never a plugin).
    pub organization: Option<&'a str>,
    /// The directory user, when the principal is one.
    pub user_id: Option<&'a str>,
    /// The API key the request presented, if any: its own bindings limit
    /// what its owner may do through it.
    pub api_key_id: Option<&'a str>,
    /// Email address.
    pub email: Option<&'a str>,
    /// Display name.
    pub display_name: Option<&'a str>,
    /// Groups, as the provider or the directory names them.
    pub groups: Vec<&'a str>,
    /// How the principal authenticated (RFC 8176 `amr` values).
    pub amr: Vec<&'a str>,
    /// Further claims.
    pub attributes: Vec<(&'a str, &'a str)>,
}

/// One check: may `principal` do `action` on `resource`?
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRequest<'a> {
    /// Who.
    pub principal: PrincipalView<'a>,
    /// The permission asked for, e.g. `connections:read`.
    pub action: &'a str,
    /// The resource name, e.g. `orgs/org_1/connections/con_2`.
    pub resource: &'a str,
    /// Facts about the request (name, value).
    pub context: Vec<(&'a str, &'a str)>,
}

/// Why a buffer is not a check request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The first byte names a layout this decoder does not know.
    UnknownVersion(u8),
    /// The buffer ended inside a field.
    Truncated,
    /// A string was not UTF-8.
    NotUtf8,
    /// An option flag was neither 0 nor 1.
    BadFlag(u8),
    /// Bytes followed the last field.
    TrailingBytes(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownVersion(v) => write!(
                f,
                "check request format {v} is not the supported {FORMAT_VERSION}"
            ),
            Self::Truncated => f.write_str("check request ends inside a field"),
            Self::NotUtf8 => f.write_str("check request holds a string that is not UTF-8"),
            Self::BadFlag(b) => write!(f, "check request option flag {b} is not 0 or 1"),
            Self::TrailingBytes(n) => write!(f, "check request has {n} bytes after its end"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Writes `request` into `out` (cleared first), ready to lower.
pub fn encode(request: &CheckRequest<'_>, out: &mut Vec<u8>) {
    out.clear();
    let mut w = Writer(out);
    w.0.push(FORMAT_VERSION);
    let p = &request.principal;
    w.str(p.subject);
    w.str(p.issuer);
    for field in [
        p.organization,
        p.user_id,
        p.api_key_id,
        p.email,
        p.display_name,
    ] {
        w.opt(field);
    }
    w.list(&p.groups);
    w.list(&p.amr);
    w.pairs(&p.attributes);
    w.str(request.action);
    w.str(request.resource);
    w.pairs(&request.context);
}

struct Writer<'o>(&'o mut Vec<u8>);

impl Writer<'_> {
    fn len(&mut self, n: usize) {
        // A field over 4 GiB cannot reach a guest anyway; saturate.
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }
    fn list(&mut self, items: &[&str]) {
        self.len(items.len());
        for item in items {
            self.str(item);
        }
    }
    fn pairs(&mut self, items: &[(&str, &str)]) {
        self.len(items.len());
        for (name, value) in items {
            self.str(name);
            self.str(value);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn len(&mut self) -> Result<usize, DecodeError> {
        let raw = self.take(4)?;
        let n = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        usize::try_from(n).map_err(|_| DecodeError::Truncated)
    }
    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::NotUtf8)
    }
    fn opt(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            other => Err(DecodeError::BadFlag(other)),
        }
    }
    /// A count, bounded by what the rest of the buffer could hold (each
    /// item takes at least `min_item` bytes), so a forged count cannot
    /// make the decoder reserve memory the buffer does not back.
    fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.len()?;
        if n.saturating_mul(min_item) > self.bytes.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    fn list(&mut self) -> Result<Vec<&'a str>, DecodeError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.str()).collect()
    }
    fn pairs(&mut self) -> Result<Vec<(&'a str, &'a str)>, DecodeError> {
        let n = self.count(8)?;
        (0..n).map(|_| Ok((self.str()?, self.str()?))).collect()
    }
}

impl<'a> CheckRequest<'a> {
    /// Reads a buffer written by [`encode`], borrowing its strings.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { bytes };
        let version = r.byte()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let principal = PrincipalView {
            subject: r.str()?,
            issuer: r.str()?,
            organization: r.opt()?,
            user_id: r.opt()?,
            api_key_id: r.opt()?,
            email: r.opt()?,
            display_name: r.opt()?,
            groups: r.list()?,
            amr: r.list()?,
            attributes: r.pairs()?,
        };
        let request = Self {
            principal,
            action: r.str()?,
            resource: r.str()?,
            context: r.pairs()?,
        };
        match r.bytes.len() {
            0 => Ok(request),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CheckRequest<'static> {
        CheckRequest {
            principal: PrincipalView {
                subject: "usr_1",
                issuer: "local",
                organization: Some("org_a"),
                user_id: Some("usr_1"),
                api_key_id: None,
                email: Some("kim@example.com"),
                display_name: Some("Kim Ø"),
                groups: vec!["admins", "ops"],
                amr: vec!["pwd", "mfa"],
                attributes: vec![("dept", "data")],
            },
            action: "connections:read",
            resource: "orgs/org_a/connections/con_1",
            context: vec![("method", "GET")],
        }
    }

    #[test]
    fn round_trips_every_field() {
        let mut buffer = Vec::new();
        for request in [sample(), CheckRequest::default()] {
            encode(&request, &mut buffer);
            assert_eq!(CheckRequest::decode(&buffer), Ok(request));
        }
    }

    #[test]
    fn refuses_what_encode_never_writes() {
        let mut buffer = Vec::new();
        encode(&sample(), &mut buffer);
        for cut in 0..buffer.len() {
            assert!(
                CheckRequest::decode(&buffer[..cut]).is_err(),
                "a prefix of {cut} bytes decoded"
            );
        }
        let mut longer = buffer.clone();
        longer.push(0);
        assert_eq!(
            CheckRequest::decode(&longer),
            Err(DecodeError::TrailingBytes(1))
        );
        let mut versioned = buffer.clone();
        versioned[0] = 2;
        assert_eq!(
            CheckRequest::decode(&versioned),
            Err(DecodeError::UnknownVersion(2))
        );
        // A count no buffer could back is refused before any allocation.
        let mut forged = vec![FORMAT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        forged.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(CheckRequest::decode(&forged), Err(DecodeError::Truncated));
        let mut flag = vec![FORMAT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        flag.extend_from_slice(&[0; 8]);
        assert_eq!(CheckRequest::decode(&flag), Err(DecodeError::BadFlag(7)));
    }
}
