//! The list fields of a check request: read straight from the encoded
//! string as they are iterated (nothing is collected), or lent from the
//! caller's own slices when a request is built to be encoded.

use crate::Reader;

/// Iteration, equality (item by item, whatever the representation) and
/// `Debug` (as a list) for a list view with an `iter` method.
macro_rules! list_view_traits {
    ($view:ident, $iter:ident, $item:ty) => {
        impl<'a> IntoIterator for &$view<'a> {
            type Item = $item;
            type IntoIter = $iter<'a>;
            fn into_iter(self) -> $iter<'a> {
                self.iter()
            }
        }

        impl PartialEq for $view<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.len() == other.len() && self.iter().eq(other.iter())
            }
        }

        impl Eq for $view<'_> {}

        impl std::fmt::Debug for $view<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.iter()).finish()
            }
        }
    };
}

/// A list of strings (groups, `amr` values).
///
/// Build one from a slice with [`Strings::of`] or [`Strings::of_owned`];
/// a decoded request's lists read from its buffer.
#[derive(Clone, Copy)]
pub struct Strings<'a>(StringsRepr<'a>);

#[derive(Clone, Copy)]
enum StringsRepr<'a> {
    /// `count` encoded strings spanning `items` (checked by the decoder).
    Encoded {
        items: &'a str,
        count: usize,
    },
    Borrowed(&'a [&'a str]),
    Owned(&'a [String]),
}

impl<'a> Strings<'a> {
    /// The strings in `items`.
    pub const fn of(items: &'a [&'a str]) -> Self {
        Self(StringsRepr::Borrowed(items))
    }

    /// The strings in `items`.
    pub const fn of_owned(items: &'a [String]) -> Self {
        Self(StringsRepr::Owned(items))
    }

    pub(crate) const fn encoded(items: &'a str, count: usize) -> Self {
        Self(StringsRepr::Encoded { items, count })
    }

    /// How many strings there are.
    pub const fn len(&self) -> usize {
        match self.0 {
            StringsRepr::Encoded { count, .. } => count,
            StringsRepr::Borrowed(items) => items.len(),
            StringsRepr::Owned(items) => items.len(),
        }
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `wanted` is one of them.
    pub fn contains(&self, wanted: &str) -> bool {
        self.iter().any(|item| item == wanted)
    }

    /// The strings, in order.
    pub fn iter(&self) -> StringsIter<'a> {
        StringsIter(match self.0 {
            StringsRepr::Encoded { items, count } => {
                StringsIterRepr::Encoded(Reader::new(items), count)
            }
            StringsRepr::Borrowed(items) => StringsIterRepr::Borrowed(items.iter()),
            StringsRepr::Owned(items) => StringsIterRepr::Owned(items.iter()),
        })
    }
}

impl Default for Strings<'_> {
    fn default() -> Self {
        Self::of(&[])
    }
}

list_view_traits!(Strings, StringsIter, &'a str);

/// The iterator of [`Strings`].
#[derive(Clone)]
pub struct StringsIter<'a>(StringsIterRepr<'a>);

#[derive(Clone)]
enum StringsIterRepr<'a> {
    Encoded(Reader<'a>, usize),
    Borrowed(std::slice::Iter<'a, &'a str>),
    Owned(std::slice::Iter<'a, String>),
}

impl<'a> Iterator for StringsIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            StringsIterRepr::Encoded(reader, left) => {
                *left = left.checked_sub(1)?;
                // The decoder checked these items; a failure cannot happen
                // and would end the list.
                reader.str().ok()
            }
            StringsIterRepr::Borrowed(items) => items.next().copied(),
            StringsIterRepr::Owned(items) => items.next().map(String::as_str),
        }
    }
}

/// A list of (name, value) pairs (attributes, request context).
///
/// Build one from a slice with [`Pairs::of`]; a decoded request's lists
/// read from its buffer.
#[derive(Clone, Copy)]
pub struct Pairs<'a>(PairsRepr<'a>);

#[derive(Clone, Copy)]
enum PairsRepr<'a> {
    Encoded { items: &'a str, count: usize },
    Borrowed(&'a [(&'a str, &'a str)]),
    Lent(&'a dyn PairList),
}

/// Pairs kept in a caller's own type (e.g. a principal's attributes),
/// lent to a request that is to be encoded with [`Pairs::lent`].
pub trait PairList: Sync {
    /// How many pairs there are.
    fn pair_count(&self) -> usize;
    /// The pair at `index`, if there is one.
    fn pair(&self, index: usize) -> Option<(&str, &str)>;
}

/// A caller's type that holds one (name, value) pair: a `Vec` of it can be
/// lent to a request with [`Pairs::lent`].
pub trait AsPair: Sync {
    /// The name and the value.
    fn as_pair(&self) -> (&str, &str);
}

impl<T: AsPair> PairList for Vec<T> {
    fn pair_count(&self) -> usize {
        self.len()
    }
    fn pair(&self, index: usize) -> Option<(&str, &str)> {
        self.get(index).map(AsPair::as_pair)
    }
}

impl<'a> Pairs<'a> {
    /// The pairs in `items`.
    pub const fn of(items: &'a [(&'a str, &'a str)]) -> Self {
        Self(PairsRepr::Borrowed(items))
    }

    /// The pairs `list` holds.
    pub const fn lent(list: &'a dyn PairList) -> Self {
        Self(PairsRepr::Lent(list))
    }

    pub(crate) const fn encoded(items: &'a str, count: usize) -> Self {
        Self(PairsRepr::Encoded { items, count })
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        match self.0 {
            PairsRepr::Encoded { count, .. } => count,
            PairsRepr::Borrowed(items) => items.len(),
            PairsRepr::Lent(list) => list.pair_count(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of the first pair named `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The pairs, in order.
    pub fn iter(&self) -> PairsIter<'a> {
        PairsIter(match self.0 {
            PairsRepr::Encoded { items, count } => {
                PairsIterRepr::Encoded(Reader::new(items), count)
            }
            PairsRepr::Borrowed(items) => PairsIterRepr::Borrowed(items.iter()),
            PairsRepr::Lent(list) => PairsIterRepr::Lent(list, 0),
        })
    }
}

impl Default for Pairs<'_> {
    fn default() -> Self {
        Self::of(&[])
    }
}

list_view_traits!(Pairs, PairsIter, (&'a str, &'a str));

/// The iterator of [`Pairs`].
#[derive(Clone)]
pub struct PairsIter<'a>(PairsIterRepr<'a>);

#[derive(Clone)]
enum PairsIterRepr<'a> {
    Encoded(Reader<'a>, usize),
    Borrowed(std::slice::Iter<'a, (&'a str, &'a str)>),
    Lent(&'a dyn PairList, usize),
}

impl<'a> Iterator for PairsIter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        match &mut self.0 {
            PairsIterRepr::Encoded(reader, left) => {
                *left = left.checked_sub(1)?;
                Some((reader.str().ok()?, reader.str().ok()?))
            }
            PairsIterRepr::Borrowed(items) => items.next().copied(),
            PairsIterRepr::Lent(list, next) => {
                let pair = list.pair(*next)?;
                *next += 1;
                Some(pair)
            }
        }
    }
}
