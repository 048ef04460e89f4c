//! Bencode: the serialization of `.torrent` files, tracker replies and
//! extension messages (BEP 3).
//!
//! [`decode`] parses a whole buffer into a borrowed [`Value`] tree with
//! limits on nesting depth and on the number of items, so hostile input
//! cannot exhaust the stack or memory. Every dictionary entry remembers the
//! exact bytes its value was decoded from ([`Dict::get_raw`]): the info-hash
//! is the SHA-1 of the original `info` bytes, so a non-canonical `.torrent`
//! (unsorted keys, say) still hashes the way every other client hashes it.
//!
//! [`encode`] writes the canonical form (dictionary keys sorted).

use thiserror::Error;

/// Limits that bound the work and memory a decode may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of lists and dictionaries accepted. Recursion depth
    /// of the decoder is bounded by this, so it also bounds stack use.
    pub max_depth: usize,
    /// Most values (integers, strings, lists, dictionaries) accepted in one
    /// document: bounds the size of the decoded tree.
    pub max_items: usize,
}

impl Default for Limits {
    /// libtorrent's defaults: depth 100, 2,000,000 tokens.
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_items: 2_000_000,
        }
    }
}

/// Why a buffer is not valid bencode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("bencode ends early at byte {0}")]
    UnexpectedEof(usize),
    #[error("unexpected byte {byte:#04x} at byte {pos}")]
    UnexpectedByte { byte: u8, pos: usize },
    #[error("invalid integer at byte {0}")]
    BadInteger(usize),
    #[error("integer out of range at byte {0}")]
    IntegerOverflow(usize),
    #[error("invalid string length at byte {0}")]
    BadLength(usize),
    #[error("string at byte {pos} claims {len} bytes but only {left} remain")]
    StringTooLong { pos: usize, len: u64, left: usize },
    #[error("dictionary key at byte {0} is not a string")]
    KeyNotString(usize),
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("more than {0} items")]
    TooManyItems(usize),
    #[error("{0} bytes of trailing data after the value")]
    TrailingData(usize),
}

/// A decoded value borrowing from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(Dict<'a>),
}

/// One dictionary entry, with the original bytes of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub key: &'a [u8],
    pub value: Value<'a>,
    /// The exact input bytes the value was decoded from (for the info-hash).
    pub raw: &'a [u8],
}

/// A dictionary in input order. Lookups return the first entry with the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dict<'a> {
    pub entries: Vec<Entry<'a>>,
}

impl<'a> Dict<'a> {
    /// The value under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entry(key).map(|e| &e.value)
    }
    /// The original bytes of the value under `key`.
    pub fn get_raw(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.entry(key).map(|e| e.raw)
    }
    /// The entry under `key`.
    pub fn entry(&self, key: &[u8]) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.key == key)
    }
    /// An integer under `key`.
    pub fn get_int(&self, key: &[u8]) -> Option<i64> {
        self.get(key).and_then(Value::as_int)
    }
    /// A byte string under `key`.
    pub fn get_bytes(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.get(key).and_then(Value::as_bytes)
    }
    /// A UTF-8 string under `key` (None if absent or not UTF-8).
    pub fn get_str(&self, key: &[u8]) -> Option<&'a str> {
        self.get_bytes(key)
            .and_then(|b| std::str::from_utf8(b).ok())
    }
    /// A list under `key`.
    pub fn get_list(&self, key: &[u8]) -> Option<&[Value<'a>]> {
        self.get(key).and_then(Value::as_list)
    }
    /// A dictionary under `key`.
    pub fn get_dict(&self, key: &[u8]) -> Option<&Dict<'a>> {
        self.get(key).and_then(Value::as_dict)
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True with no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
}

/// Decode exactly one value filling all of `input`, with default limits.
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    decode_with(input, Limits::default())
}

/// Decode exactly one value filling all of `input`.
pub fn decode_with(input: &[u8], limits: Limits) -> Result<Value<'_>, DecodeError> {
    let (value, used) = decode_prefix(input, limits)?;
    if used != input.len() {
        return Err(DecodeError::TrailingData(input.len() - used));
    }
    Ok(value)
}

/// Decode one value from the start of `input`; returns it and the number of
/// bytes it took. Used where a bencoded value is followed by other data (the
/// BEP 9 metadata message).
pub fn decode_prefix(input: &[u8], limits: Limits) -> Result<(Value<'_>, usize), DecodeError> {
    let mut d = Decoder::new(input, limits, false);
    let v = d.value(0)?;
    Ok((v, d.pos))
}

/// What [`decode_lenient`] returns: the value, and what it forgave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lenient<'a> {
    /// The first value in the input.
    pub value: Value<'a>,
    /// Bytes the value took; anything after it was ignored.
    pub used: usize,
    /// True if the value is not canonical in one of the ways libtorrent's
    /// `has_soft_error` notices: a leading zero in an integer or a string
    /// length, or dictionary keys out of order or repeated. libtorrent
    /// refuses such an `info` dictionary only when it declares a
    /// `meta version`.
    pub non_canonical: bool,
}

/// Decode the first value of `input` the way libtorrent's `bdecode` does,
/// for `.torrent` files, where accepting exactly what the reference client
/// accepts matters more than canonical form:
///
/// - leading zeros in integers and string lengths are accepted (`i05e`,
///   `03:abc`), and so is `i-0e`;
/// - an integer of at most 20 digits that does not fit an `i64` decodes to
///   0 (libtorrent's `int_value()` does this); more digits are an error;
/// - a string length takes at most 16 digits;
/// - trailing bytes after the value are not an error ([`Lenient::used`]
///   tells where the value ended);
/// - container ends count towards `max_items`, as libtorrent counts tokens.
///
/// libtorrent checks its depth limit before every token, so a limit of
/// `d` there lets `d - 1` containers nest: pass `max_depth: d - 1` here to
/// match.
pub fn decode_lenient(input: &[u8], limits: Limits) -> Result<Lenient<'_>, DecodeError> {
    let mut d = Decoder::new(input, limits, true);
    let value = d.value(0)?;
    Ok(Lenient {
        value,
        used: d.pos,
        non_canonical: d.non_canonical,
    })
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    items: usize,
    limits: Limits,
    /// libtorrent-compatible mode (see [`decode_lenient`]).
    lenient: bool,
    /// Set in lenient mode when a non-canonical form was forgiven.
    non_canonical: bool,
}

impl<'a> Decoder<'a> {
    fn new(input: &'a [u8], limits: Limits, lenient: bool) -> Self {
        Decoder {
            input,
            pos: 0,
            items: 0,
            limits,
            lenient,
            non_canonical: false,
        }
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::UnexpectedEof(self.pos))
    }

    fn count_item(&mut self) -> Result<(), DecodeError> {
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(DecodeError::TooManyItems(self.limits.max_items));
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        self.count_item()?;
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                let depth = self.enter(depth)?;
                self.pos += 1;
                let mut list = Vec::new();
                while self.peek()? != b'e' {
                    list.push(self.value(depth)?);
                }
                self.end_token()?;
                Ok(Value::List(list))
            }
            b'd' => {
                let depth = self.enter(depth)?;
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    let c = self.peek()?;
                    if c == b'e' {
                        break;
                    }
                    if !c.is_ascii_digit() {
                        return Err(DecodeError::KeyNotString(self.pos));
                    }
                    self.count_item()?;
                    let key = self.bytes()?;
                    let start = self.pos;
                    let value = self.value(depth)?;
                    let raw = &self.input[start..self.pos];
                    if let Some(prev) = entries.last() {
                        let prev: &Entry<'_> = prev;
                        if prev.key >= key {
                            self.non_canonical = true;
                        }
                    }
                    entries.push(Entry { key, value, raw });
                }
                self.end_token()?;
                Ok(Value::Dict(Dict { entries }))
            }
            byte => Err(DecodeError::UnexpectedByte {
                byte,
                pos: self.pos,
            }),
        }
    }

    /// Step over the `e` closing a container (a token of its own to
    /// libtorrent's item count).
    fn end_token(&mut self) -> Result<(), DecodeError> {
        if self.lenient {
            self.count_item()?;
        }
        self.pos += 1;
        Ok(())
    }

    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= self.limits.max_depth {
            Err(DecodeError::TooDeep(self.limits.max_depth))
        } else {
            Ok(depth + 1)
        }
    }

    /// `i<digits>e`: canonical form only (no leading zeros, no `-0`).
    fn int(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        self.pos += 1; // 'i'
        let rest = &self.input[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'e')
            .ok_or(DecodeError::UnexpectedEof(self.input.len()))?;
        let digits = &rest[..end];
        let (neg, body) = match digits.split_first() {
            Some((b'-', body)) => (true, body),
            _ => (false, digits),
        };
        if self.lenient {
            if body.is_empty() || !body.iter().all(u8::is_ascii_digit) || body.len() > 20 {
                return Err(DecodeError::BadInteger(start));
            }
            if !neg && body.len() > 1 && body[0] == b'0' {
                self.non_canonical = true;
            }
            self.pos += end + 1;
            return Ok(lenient_int(neg, body));
        }
        if body.is_empty()
            || !body.iter().all(u8::is_ascii_digit)
            || (body.len() > 1 && body[0] == b'0')
            || (neg && body == b"0")
        {
            return Err(DecodeError::BadInteger(start));
        }
        let mut n: i64 = 0;
        for &b in body {
            let d = i64::from(b - b'0');
            n = n
                .checked_mul(10)
                .and_then(|n| {
                    if neg {
                        n.checked_sub(d)
                    } else {
                        n.checked_add(d)
                    }
                })
                .ok_or(DecodeError::IntegerOverflow(start))?;
        }
        self.pos += end + 1;
        Ok(n)
    }

    /// `<len>:<bytes>`.
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let rest = &self.input[self.pos..];
        let colon = rest
            .iter()
            .position(|&b| b == b':')
            .ok_or(DecodeError::UnexpectedEof(self.input.len()))?;
        let digits = &rest[..colon];
        let leading_zero = digits.len() > 1 && digits.first() == Some(&b'0');
        if digits.is_empty()
            || !digits.iter().all(u8::is_ascii_digit)
            || (leading_zero && !self.lenient)
            || (self.lenient && digits.len() > 16)
        {
            return Err(DecodeError::BadLength(start));
        }
        if leading_zero {
            self.non_canonical = true;
        }
        let mut len: u64 = 0;
        for &b in digits {
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(u64::from(b - b'0')))
                .ok_or(DecodeError::BadLength(start))?;
        }
        let body_start = self.pos + colon + 1;
        let left = self.input.len() - body_start;
        if len > left as u64 {
            return Err(DecodeError::StringTooLong {
                pos: start,
                len,
                left,
            });
        }
        let end = body_start + len as usize;
        self.pos = end;
        Ok(&self.input[body_start..end])
    }
}

/// libtorrent's reading of an integer body of at most 20 digits: its value,
/// or 0 if it does not fit an `i64`.
fn lenient_int(neg: bool, body: &[u8]) -> i64 {
    let mut n: i64 = 0;
    for &b in body {
        let d = i64::from(b - b'0');
        match n.checked_mul(10).and_then(|n| n.checked_add(d)) {
            Some(v) => n = v,
            None => return 0,
        }
    }
    if neg {
        -n
    } else {
        n
    }
}

/// An owned value to encode. Dictionaries are encoded with sorted keys
/// whatever order they are built in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Owned>),
    Dict(Vec<(Vec<u8>, Owned)>),
}

impl Owned {
    /// A byte string from anything byte-like.
    pub fn bytes(b: impl AsRef<[u8]>) -> Owned {
        Owned::Bytes(b.as_ref().to_vec())
    }
    /// A dictionary from (key, value) pairs.
    pub fn dict<K: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (K, Owned)>) -> Owned {
        Owned::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_vec(), v))
                .collect(),
        )
    }
    /// The value under `key` of a dictionary.
    pub fn get(&self, key: &[u8]) -> Option<&Owned> {
        match self {
            Owned::Dict(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// The value under `key` of a dictionary, to change it.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Owned> {
        match self {
            Owned::Dict(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// Remove `key` from a dictionary (no-op on other kinds).
    pub fn remove(&mut self, key: &[u8]) {
        if let Owned::Dict(entries) = self {
            entries.retain(|(k, _)| k != key);
        }
    }
    /// Insert or replace `key` in a dictionary (no-op on other kinds).
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: Owned) {
        if let Owned::Dict(entries) = self {
            let key = key.as_ref();
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key.to_vec(), value)),
            }
        }
    }
}

impl From<&Value<'_>> for Owned {
    fn from(v: &Value<'_>) -> Owned {
        match v {
            Value::Int(i) => Owned::Int(*i),
            Value::Bytes(b) => Owned::Bytes(b.to_vec()),
            Value::List(l) => Owned::List(l.iter().map(Owned::from).collect()),
            Value::Dict(d) => Owned::Dict(
                d.entries
                    .iter()
                    .map(|e| (e.key.to_vec(), Owned::from(&e.value)))
                    .collect(),
            ),
        }
    }
}

/// Encode `value` canonically.
pub fn encode(value: &Owned) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Encode `value` canonically, appending to `out`.
pub fn encode_into(value: &Owned, out: &mut Vec<u8>) {
    match value {
        Owned::Int(i) => {
            out.push(b'i');
            out.extend_from_slice(i.to_string().as_bytes());
            out.push(b'e');
        }
        Owned::Bytes(b) => encode_bytes(b, out),
        Owned::List(l) => {
            out.push(b'l');
            for v in l {
                encode_into(v, out);
            }
            out.push(b'e');
        }
        Owned::Dict(entries) => {
            let mut sorted: Vec<&(Vec<u8>, Owned)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            sorted.dedup_by(|a, b| a.0 == b.0);
            out.push(b'd');
            for (k, v) in sorted {
                encode_bytes(k, out);
                encode_into(v, out);
            }
            out.push(b'e');
        }
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_basic_values() {
        assert_eq!(decode(b"i42e").unwrap(), Value::Int(42));
        assert_eq!(decode(b"i-7e").unwrap(), Value::Int(-7));
        assert_eq!(decode(b"4:spam").unwrap(), Value::Bytes(b"spam"));
        assert_eq!(decode(b"0:").unwrap(), Value::Bytes(b""));
        let v = decode(b"d3:cow3:moo4:spaml1:a1:bee").unwrap();
        let d = v.as_dict().unwrap();
        assert_eq!(d.get_str(b"cow"), Some("moo"));
        assert_eq!(d.get_list(b"spam").unwrap().len(), 2);
        assert_eq!(d.get_raw(b"spam"), Some(&b"l1:a1:be"[..]));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"i",
            b"ie",
            b"i-e",
            b"i-0e",
            b"i03e",
            b"i1x2e",
            b"5:abc",
            b"03:abc",
            b"l",
            b"d3:fooe",
            b"di1ei2ee",
            b"x",
            b"i1ei2e",
            b"i9223372036854775808e",
        ] {
            assert!(decode(bad).is_err(), "{:?} should be rejected", bad);
        }
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap(),
            Value::Int(i64::MIN)
        );
    }

    #[test]
    fn depth_and_item_limits() {
        let deep = format!("{}{}", "l".repeat(200), "e".repeat(200));
        assert_eq!(decode(deep.as_bytes()), Err(DecodeError::TooDeep(100)));
        let ok = format!("{}{}", "l".repeat(100), "e".repeat(100));
        assert!(decode(ok.as_bytes()).is_ok());
        let many = format!("l{}e", "i1e".repeat(50));
        let limits = Limits {
            max_depth: 10,
            max_items: 20,
        };
        assert_eq!(
            decode_with(many.as_bytes(), limits),
            Err(DecodeError::TooManyItems(20))
        );
    }

    #[test]
    fn raw_span_keeps_non_canonical_bytes() {
        // Unsorted keys inside `info`: the raw span must be the input bytes.
        let input = b"d4:infod1:zi1e1:ai2eee";
        let v = decode(input).unwrap();
        assert_eq!(
            v.as_dict().unwrap().get_raw(b"info"),
            Some(&b"d1:zi1e1:ai2ee"[..])
        );
    }

    #[test]
    fn encode_sorts_keys() {
        let v = Owned::dict([(b"b", Owned::Int(1)), (b"a", Owned::bytes("x"))]);
        assert_eq!(encode(&v), b"d1:a1:x1:bi1ee");
    }

    #[test]
    fn prefix_decode_reports_length() {
        let (v, used) = decode_prefix(b"d1:ai1eeTRAILER", Limits::default()).unwrap();
        assert_eq!(used, 8);
        assert!(v.as_dict().is_some());
    }

    #[test]
    fn lenient_accepts_what_libtorrent_accepts() {
        let limits = Limits::default();
        let l = decode_lenient(b"i05e", limits).unwrap();
        assert_eq!((l.value, l.non_canonical), (Value::Int(5), true));
        let l = decode_lenient(b"i-0e", limits).unwrap();
        assert_eq!((l.value, l.non_canonical), (Value::Int(0), false));
        let l = decode_lenient(b"03:abcXYZ", limits).unwrap();
        assert_eq!(
            (l.value, l.used, l.non_canonical),
            (Value::Bytes(b"abc"), 6, true)
        );
        // Fits in 20 digits but not in an i64: 0, as libtorrent reads it.
        let l = decode_lenient(b"i99999999999999999999e", limits).unwrap();
        assert_eq!(l.value, Value::Int(0));
        assert!(decode_lenient(b"i999999999999999999999e", limits).is_err());
        assert!(decode_lenient(b"00000000000000001:a", limits).is_err());
        assert!(decode_lenient(b"i-e", limits).is_err());
        assert!(decode_lenient(b"ie", limits).is_err());
        // Key order: sorted is canonical, unsorted or repeated is not.
        assert!(
            !decode_lenient(b"d1:ai1e1:bi2ee", limits)
                .unwrap()
                .non_canonical
        );
        assert!(
            decode_lenient(b"d1:bi1e1:ai2ee", limits)
                .unwrap()
                .non_canonical
        );
        assert!(
            decode_lenient(b"d1:ai1e1:ai2ee", limits)
                .unwrap()
                .non_canonical
        );
        // Container ends count as items.
        let tight = Limits {
            max_depth: 10,
            max_items: 2,
        };
        assert!(decode_lenient(b"le", tight).is_ok());
        assert!(decode_lenient(b"li1ee", tight).is_err());
    }

    fn arb_owned() -> impl Strategy<Value = Owned> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Owned::Int),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Owned::Bytes),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Owned::List),
                proptest::collection::btree_map(
                    proptest::collection::vec(any::<u8>(), 0..8),
                    inner,
                    0..8
                )
                .prop_map(|m| Owned::Dict(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trip(v in arb_owned()) {
            let bytes = encode(&v);
            let decoded = decode(&bytes).unwrap();
            prop_assert_eq!(Owned::from(&decoded), v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn lenient_agrees_on_canonical_input(v in arb_owned()) {
            let bytes = encode(&v);
            let l = decode_lenient(&bytes, Limits::default()).unwrap();
            prop_assert_eq!(l.used, bytes.len());
            prop_assert!(!l.non_canonical);
            prop_assert_eq!(Owned::from(&l.value), v);
        }

        #[test]
        fn lenient_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_lenient(&bytes, Limits::default());
        }

        #[test]
        fn mutated_valid_input_never_panics(v in arb_owned(), pos in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = encode(&v);
            if !bytes.is_empty() {
                let i = pos % bytes.len();
                bytes[i] = byte;
            }
            let _ = decode(&bytes);
        }
    }
}
