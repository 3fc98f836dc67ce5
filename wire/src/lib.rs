//! The compact encoding of one authorizer check (`authorize.check` in the
//! WIT contract): the principal, the action, the resource and the context
//! in a single string.
//!
//! Every string or list handed to a guest costs one allocation inside it
//! (~0.35 µs through the component boundary). A check used to lower about
//! eight of them; one string lowers once. It is a WIT `string`, so the
//! component model guarantees it is UTF-8 and the guest does not check it
//! again; the framing is ASCII (lengths are base-64 digits written as
//! bytes below 0x80), so any field cut out of it is a `str`.
//! The gateway encodes with [`encode`] into a reused buffer; the SDK
//! decodes with [`CheckRequest::decode`], which checks the framing once and
//! allocates nothing: strings borrow the buffer and lists ([`Strings`],
//! [`Pairs`]) are read from it as they are iterated.
//!
//! Layout:
//!
//! ```text
//! "2"     format version (FORMAT_VERSION)
//! str     subject            str   = num byte length, then the bytes
//! str     issuer
//! opt     organization       opt   = '-' (absent) | '+', then str
//! opt     user id
//! opt     API key id
//! opt     email
//! opt     display name
//! list    groups             list  = num count, then each str
//! list    amr
//! pairs   attributes         pairs = num count, then name str, value str
//! str     action                     for each
//! str     resource
//! pairs   context
//! ```
//!
//! A `num` is 1 to 6 base-64 digits, most significant first: a byte
//! `0x40 + d` for each digit but the last, then a byte `d` for the last
//! (`0x00..=0x3F`). Lengths under 64, nearly all of them, take one byte.
//!
//! Nothing may follow the last field.
#![deny(missing_docs)]

mod lists;

pub use lists::{AsPair, PairList, Pairs, PairsIter, Strings, StringsIter};

/// The version of the layout above; a decoder refuses any other.
pub const FORMAT_VERSION: char = '2';

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
    pub groups: Strings<'a>,
    /// How the principal authenticated (RFC 8176 `amr` values).
    pub amr: Strings<'a>,
    /// Further claims.
    pub attributes: Pairs<'a>,
}

/// One check: may `principal` do `action` on `resource`?
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRequest<'a> {
    /// Whether the whole decision receipt (reason, deciding binding and
    /// role) will be read: the gateway called `explain` (the admin API,
    /// explain, denials) rather than `check` (a proxied request, the hot
    /// path, where only the verdict leaves the plugin, so an authorizer
    /// may skip building the rest). Which export was called says it, so
    /// it is not part of the encoding: the SDK sets it, and the gateway
    /// chooses the export by it.
    pub wants_receipt: bool,
    /// Who.
    pub principal: PrincipalView<'a>,
    /// The permission asked for, e.g. `connections:read`.
    pub action: &'a str,
    /// The resource name, e.g. `orgs/org_1/connections/con_2`.
    pub resource: &'a str,
    /// Facts about the request (name, value).
    pub context: Pairs<'a>,
}

/// Why a string is not a check request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The first character names a layout this decoder does not know.
    UnknownVersion(char),
    /// The string ended inside a field, or a length cut a character.
    Truncated,
    /// A length or count was not 1 to 6 digits (see the layout).
    BadNumber,
    /// An option flag was neither `-` nor `+`.
    BadFlag(char),
    /// Bytes followed the last field.
    TrailingBytes(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownVersion(v) => write!(
                f,
                "check request format {v:?} is not the supported {FORMAT_VERSION:?}"
            ),
            Self::Truncated => f.write_str("check request ends inside a field"),
            Self::BadNumber => f.write_str("check request holds a malformed length"),
            Self::BadFlag(c) => write!(f, "check request option flag {c:?} is not '-' or '+'"),
            Self::TrailingBytes(n) => write!(f, "check request has {n} bytes after its end"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Writes `request` into `out` (cleared first), ready to lower.
pub fn encode(request: &CheckRequest<'_>, out: &mut String) {
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
    w.strings(&p.groups);
    w.strings(&p.amr);
    w.pairs(&p.attributes);
    w.str(request.action);
    w.str(request.resource);
    w.pairs(&request.context);
}

struct Writer<'o>(&'o mut String);

/// The most digits a `num` has: 64^6 is past any length a guest can hold.
const MAX_DIGITS: usize = 6;
/// Added to a digit that more digits follow.
const MORE: u8 = 0x40;

impl Writer<'_> {
    #[inline(always)]
    fn number(&mut self, n: usize) {
        if n < usize::from(MORE) {
            // One digit; `n` is below 0x40, so ASCII.
            self.0.push(char::from(n as u8));
            return;
        }
        // A field longer than 64^6 - 1 bytes cannot reach a guest; saturate.
        let n = u64::try_from(n).unwrap_or(u64::MAX).min((1 << 36) - 1);
        let digits = (u64::BITS - n.leading_zeros()).div_ceil(6);
        for shift in (1..digits).rev() {
            let digit = ((n >> (6 * shift)) & 0x3F) as u8;
            self.0.push(char::from(MORE + digit));
        }
        self.0.push(char::from((n & 0x3F) as u8));
    }
    #[inline(always)]
    fn str(&mut self, s: &str) {
        self.number(s.len());
        self.0.push_str(s);
    }
    #[inline(always)]
    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.0.push('-'),
            Some(s) => {
                self.0.push('+');
                self.str(s);
            }
        }
    }
    #[inline(always)]
    fn strings(&mut self, items: &Strings<'_>) {
        self.number(items.len());
        for item in items.iter() {
            self.str(item);
        }
    }
    #[inline(always)]
    fn pairs(&mut self, items: &Pairs<'_>) {
        self.number(items.len());
        for (name, value) in items.iter() {
            self.str(name);
            self.str(value);
        }
    }
}

/// Reads fields off an encoded string. What is left always starts on a
/// character boundary: the reader only steps over ASCII framing bytes and
/// over whole strings cut with `str::split_at_checked`.
/// Reads a request from the front. `pos` only ever advances over an ASCII
/// byte or a whole field, so it is always on a character boundary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    /// The next byte, not consumed.
    #[inline(always)]
    fn peek(&self) -> Result<u8, DecodeError> {
        self.text
            .as_bytes()
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated)
    }

    /// The next `n` bytes as a field.
    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a str, DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        // Refuses a length past the end or one that cuts a character.
        let field = self.text.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(field)
    }

    /// A one-byte flag: `'-'` or `'+'` (or the format version).
    #[inline(always)]
    fn flag(&mut self) -> Result<char, DecodeError> {
        let b = self.peek()?;
        if b.is_ascii() {
            self.pos += 1;
            return Ok(char::from(b));
        }
        Err(DecodeError::BadFlag(
            self.text
                .get(self.pos..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or(char::REPLACEMENT_CHARACTER),
        ))
    }

    /// A `num`: 1 to [`MAX_DIGITS`] base-64 digits (see the layout).
    #[inline(always)]
    fn number(&mut self) -> Result<usize, DecodeError> {
        let first = self.peek()?;
        if first < MORE {
            // Nearly every length: one digit.
            self.pos += 1;
            return Ok(usize::from(first));
        }
        let mut n = 0u64;
        for _ in 0..MAX_DIGITS {
            let b = self.peek()?;
            if !b.is_ascii() {
                return Err(DecodeError::BadNumber);
            }
            self.pos += 1;
            if b < MORE {
                // Past what this machine can address: no buffer holds it.
                return usize::try_from(n << 6 | u64::from(b)).map_err(|_| DecodeError::Truncated);
            }
            n = n << 6 | u64::from(b - MORE);
        }
        Err(DecodeError::BadNumber)
    }

    /// A `str`: its length, then its bytes.
    #[inline(always)]
    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.number()?;
        self.take(n)
    }

    /// An `opt`: `-`, or `+` and a `str`.
    #[inline(always)]
    fn opt(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.flag()? {
            '-' => Ok(None),
            '+' => self.str().map(Some),
            other => Err(DecodeError::BadFlag(other)),
        }
    }

    /// A list of `count` items of `strings_each` strings: checks each item
    /// and returns the count and the text the items span.
    #[inline(always)]
    fn items(&mut self, strings_each: usize) -> Result<(usize, &'a str), DecodeError> {
        let count = self.number()?;
        let start = self.pos;
        // Each string takes at least one byte, so a forged count ends
        // at the end of the buffer, not in a long loop.
        for _ in 0..count.saturating_mul(strings_each) {
            self.str()?;
        }
        let spanned = self
            .text
            .get(start..self.pos)
            .ok_or(DecodeError::Truncated)?;
        Ok((count, spanned))
    }

    /// How many bytes are left.
    #[inline(always)]
    fn remaining(&self) -> usize {
        self.text.len() - self.pos
    }
}

impl<'a> CheckRequest<'a> {
    /// Reads a string written by [`encode`], borrowing its fields
    /// (`wants_receipt` is false: the caller sets it).
    pub fn decode(text: &'a str) -> Result<Self, DecodeError> {
        let mut r = Reader::new(text);
        let version = r.flag()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let subject = r.str()?;
        let issuer = r.str()?;
        let organization = r.opt()?;
        let user_id = r.opt()?;
        let api_key_id = r.opt()?;
        let email = r.opt()?;
        let display_name = r.opt()?;
        let (count, items) = r.items(1)?;
        let groups = Strings::encoded(items, count);
        let (count, items) = r.items(1)?;
        let amr = Strings::encoded(items, count);
        let (count, items) = r.items(2)?;
        let attributes = Pairs::encoded(items, count);
        let action = r.str()?;
        let resource = r.str()?;
        let (count, items) = r.items(2)?;
        let context = Pairs::encoded(items, count);
        match r.remaining() {
            0 => Ok(Self {
                wants_receipt: false,
                principal: PrincipalView {
                    subject,
                    issuer,
                    organization,
                    user_id,
                    api_key_id,
                    email,
                    display_name,
                    groups,
                    amr,
                    attributes,
                },
                action,
                resource,
                context,
            }),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests;
