//! Typed reads of a request's arguments.
//!
//! Lenient where Transmission is — a boolean may come as 0 or 1, a whole
//! number as 3.0 — and strict where a value would be absurd: a negative
//! limit, a fraction where a count is meant, an id past 2^32. Each error
//! names the argument.

use riffle_manager::{Select, TorrentRef};
use serde_json::{Map, Value};

/// A request's arguments.
pub struct Args<'a>(pub &'a Map<String, Value>);

type R<T> = Result<T, String>;

impl Args<'_> {
    /// Is `key` present (and not null)?
    pub fn has(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.is_null())
    }

    /// A boolean (true/false, or 0/1).
    pub fn bool(&self, key: &str) -> R<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
            Some(_) => Err(format!("{key} must be a boolean")),
        }
    }

    /// A whole number of 0 or more.
    pub fn u64(&self, key: &str) -> R<Option<u64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                if let Some(u) = n.as_u64() {
                    return Ok(Some(u));
                }
                match n.as_f64() {
                    Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(Some(f as u64)),
                    _ => Err(format!("{key} must be a whole number of 0 or more")),
                }
            }
            Some(_) => Err(format!("{key} must be a number")),
        }
    }

    /// A whole number of 0 or more that fits `u32`.
    pub fn u32(&self, key: &str) -> R<Option<u32>> {
        self.u64(key)?
            .map(|v| u32::try_from(v).map_err(|_| format!("{key} is too large")))
            .transpose()
    }

    /// A count (fits `usize`, and sanity-capped at 2^31).
    pub fn count(&self, key: &str) -> R<Option<usize>> {
        self.u64(key)?
            .map(|v| {
                if v > i32::MAX as u64 {
                    Err(format!("{key} is too large"))
                } else {
                    Ok(v as usize)
                }
            })
            .transpose()
    }

    /// Any whole number (Transmission's modes, which may be negative in
    /// a client's mistake and are then refused by the caller).
    pub fn i64(&self, key: &str) -> R<Option<i64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| format!("{key} must be a whole number")),
            Some(_) => Err(format!("{key} must be a number")),
        }
    }

    /// A finite number of 0 or more.
    pub fn ratio(&self, key: &str) -> R<Option<f64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f)),
                _ => Err(format!("{key} must be a number of 0 or more")),
            },
            Some(_) => Err(format!("{key} must be a number")),
        }
    }

    /// A string.
    pub fn str(&self, key: &str) -> R<Option<&str>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{key} must be a string")),
        }
    }

    /// A list of strings.
    pub fn strings(&self, key: &str) -> R<Option<Vec<String>>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(format!("{key} must be a list of strings")),
                })
                .collect::<R<Vec<_>>>()
                .map(Some),
            Some(_) => Err(format!("{key} must be a list")),
        }
    }

    /// A list of indices (file numbers).
    pub fn indices(&self, key: &str) -> R<Option<Vec<usize>>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v.as_u64() {
                    Some(i) if i <= u32::MAX as u64 => Ok(i as usize),
                    _ => Err(format!("{key} must be a list of file indices")),
                })
                .collect::<R<Vec<_>>>()
                .map(Some),
            Some(_) => Err(format!("{key} must be a list")),
        }
    }

    /// The torrents named by `ids`: absent means every torrent; a number,
    /// a hash string, a list of both, or "recently-active".
    pub fn ids(&self) -> R<Select> {
        match self.0.get("ids") {
            None | Some(Value::Null) => Ok(Select::All),
            Some(Value::String(s)) if s == "recently-active" => Ok(Select::RecentlyActive),
            Some(Value::Array(items)) if items.is_empty() => Ok(Select::All),
            Some(Value::Array(items)) => items
                .iter()
                .map(torrent_ref)
                .collect::<R<Vec<_>>>()
                .map(Select::Some),
            Some(one) => Ok(Select::Some(vec![torrent_ref(one)?])),
        }
    }
}

fn torrent_ref(v: &Value) -> R<TorrentRef> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .map(TorrentRef::Id)
            .ok_or_else(|| format!("{n} is not a torrent id")),
        Value::String(s) => s
            .parse()
            .map(TorrentRef::Hash)
            .map_err(|_| format!("{s:?} is not a torrent id or info-hash")),
        _ => Err("ids must be numbers or info-hash strings".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_and_refusals() {
        let m = with(json!({
            "a": true, "b": 1, "c": -3, "d": 2.0, "e": 1.5, "f": "x",
            "g": [0, 2], "h": ["l1", "l2"], "big": 1e30,
        }));
        let a = Args(&m);
        assert_eq!(a.bool("a"), Ok(Some(true)));
        assert_eq!(a.bool("b"), Ok(Some(true)));
        assert!(a.bool("c").is_err());
        assert_eq!(a.bool("missing"), Ok(None));
        assert!(a.u64("c").is_err());
        assert_eq!(a.u64("d"), Ok(Some(2)));
        assert!(a.u64("e").is_err());
        assert!(a.u64("big").is_err());
        assert_eq!(a.i64("c"), Ok(Some(-3)));
        assert_eq!(a.ratio("e"), Ok(Some(1.5)));
        assert!(a.ratio("c").is_err());
        assert_eq!(a.str("f"), Ok(Some("x")));
        assert!(a.str("b").is_err());
        assert_eq!(a.indices("g"), Ok(Some(vec![0, 2])));
        assert_eq!(
            a.strings("h"),
            Ok(Some(vec!["l1".to_owned(), "l2".to_owned()]))
        );
        assert!(a.indices("h").is_err());
    }

    #[test]
    fn ids_in_every_shape() {
        let hash = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(Args(&with(json!({}))).ids(), Ok(Select::All));
        assert_eq!(
            Args(&with(json!({"ids": 4}))).ids(),
            Ok(Select::Some(vec![TorrentRef::Id(4)]))
        );
        assert_eq!(
            Args(&with(json!({"ids": "recently-active"}))).ids(),
            Ok(Select::RecentlyActive)
        );
        let both = Args(&with(json!({"ids": [1, hash]}))).ids().unwrap();
        assert!(matches!(both, Select::Some(v) if v.len() == 2));
        for bad in [
            json!({"ids": -1}),
            json!({"ids": "zz"}),
            json!({"ids": [true]}),
            json!({"ids": 5e9}),
        ] {
            assert!(Args(&with(bad.clone())).ids().is_err(), "{bad}");
        }
    }
}
