//! Test-side bencode writer and seeded random numbers for the metainfo
//! differential test: it must write what riffle's own encoder never would
//! (unsorted keys, raw non-canonical tokens).

/// A bencode value that encodes dictionaries in the order given (so tests
/// can write unsorted keys) and can splice raw bytes.
#[derive(Clone)]
pub enum B {
    I(i64),
    S(Vec<u8>),
    L(Vec<B>),
    D(Vec<(Vec<u8>, B)>),
    Raw(Vec<u8>),
}

impl B {
    pub fn s(v: impl AsRef<[u8]>) -> B {
        B::S(v.as_ref().to_vec())
    }
    pub fn d<K: AsRef<[u8]>>(pairs: Vec<(K, B)>) -> B {
        B::D(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_vec(), v))
                .collect(),
        )
    }
    pub fn path(parts: &[&[u8]]) -> B {
        B::L(parts.iter().map(B::s).collect())
    }
    pub fn enc(&self, out: &mut Vec<u8>) {
        match self {
            B::I(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            B::S(s) => {
                out.extend_from_slice(format!("{}:", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            B::L(l) => {
                out.push(b'l');
                l.iter().for_each(|v| v.enc(out));
                out.push(b'e');
            }
            B::D(d) => {
                out.push(b'd');
                for (k, v) in d {
                    B::S(k.clone()).enc(out);
                    v.enc(out);
                }
                out.push(b'e');
            }
            B::Raw(r) => out.extend_from_slice(r),
        }
    }
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.enc(&mut out);
        out
    }
    /// Sort dictionary keys recursively (canonical order).
    pub fn sorted(mut self) -> B {
        match &mut self {
            B::D(d) => {
                let mut d2: Vec<(Vec<u8>, B)> = d.drain(..).map(|(k, v)| (k, v.sorted())).collect();
                d2.sort_by(|a, b| a.0.cmp(&b.0));
                B::D(d2)
            }
            B::L(l) => B::L(l.drain(..).map(B::sorted).collect()),
            _ => self,
        }
    }
    pub fn set(&mut self, key: &str, v: B) {
        if let B::D(d) = self {
            match d.iter_mut().find(|(k, _)| k == key.as_bytes()) {
                Some(slot) => slot.1 = v,
                None => d.push((key.as_bytes().to_vec(), v)),
            }
        }
    }
    pub fn remove(&mut self, key: &str) {
        if let B::D(d) = self {
            d.retain(|(k, _)| k != key.as_bytes());
        }
    }
}

/// splitmix64: a tiny seeded generator, enough for reproducible mutations.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn pieces(total: u64, pl: u64) -> B {
    let n = total.div_ceil(pl) as usize;
    B::S((0..n * 20).map(|i| (i * 7 % 251) as u8).collect())
}

/// A single-file info dictionary.
pub fn single_info(name: &[u8], len: i64, pl: i64) -> B {
    B::d(vec![
        ("length", B::I(len)),
        ("name", B::s(name)),
        ("piece length", B::I(pl)),
        ("pieces", pieces(len.max(0) as u64, pl.max(1) as u64)),
    ])
}

/// A multi-file info dictionary from (path, length) pairs.
pub fn multi_info(name: &[u8], files: &[(&[&[u8]], i64)], pl: i64) -> B {
    let total: i64 = files.iter().map(|f| f.1.max(0)).sum();
    let list = files
        .iter()
        .map(|(p, l)| B::d(vec![("length", B::I(*l)), ("path", B::path(p))]))
        .collect();
    B::d(vec![
        ("files", B::L(list)),
        ("name", B::s(name)),
        ("piece length", B::I(pl)),
        ("pieces", pieces(total as u64, pl.max(1) as u64)),
    ])
}

pub fn torrent(info: B) -> B {
    B::d(vec![
        ("announce", B::s("http://tracker.example/announce")),
        ("info", info),
    ])
}

/// Multi-file info with custom file dictionaries.
pub fn multi_with(name: &[u8], files: Vec<B>, total: u64, pl: i64) -> B {
    B::d(vec![
        ("files", B::L(files)),
        ("name", B::s(name)),
        ("piece length", B::I(pl)),
        ("pieces", pieces(total, pl as u64)),
    ])
}

pub fn file(path: &[&[u8]], len: i64) -> B {
    B::d(vec![("length", B::I(len)), ("path", B::path(path))])
}
