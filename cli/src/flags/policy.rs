//! The experimental-policy flags `download` and `seed` share: which piece
//! picker and upload policies run, and the rate limits that shape them.

use riffle_client::engine::Policies;
use riffle_policies::catalog::{ChokerKind, PickerKind, SeedChokerKind};

use crate::units::parse_rate;

/// `NAME  what it does` lines for a flag's long help.
fn listing<T: Copy + std::fmt::Display>(all: &[T], help: impl Fn(T) -> &'static str) -> String {
    let width = all.iter().map(|k| k.to_string().len()).max().unwrap_or(0);
    all.iter()
        .map(|&k| format!("  {:<width$}  {}", k.to_string(), help(k)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn picker_help() -> String {
    format!(
        "Which missing piece to request next:\n{}",
        listing(PickerKind::ALL, PickerKind::help)
    )
}

fn choker_help() -> String {
    format!(
        "Whom to upload to while downloading:\n{}",
        listing(ChokerKind::ALL, ChokerKind::help)
    )
}

fn seed_choker_help() -> String {
    format!(
        "Whom to upload to once complete (seeding):\n{}",
        listing(SeedChokerKind::ALL, SeedChokerKind::help)
    )
}

fn parse_picker(s: &str) -> Result<PickerKind, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn parse_choker(s: &str) -> Result<ChokerKind, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn parse_seed_choker(s: &str) -> Result<SeedChokerKind, String> {
    s.parse().map_err(|e| format!("{e}"))
}

/// Policy flags (see `riffle download --help`).
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyFlags {
    /// Piece picker: rarest-first (BitTorrent; the paper's RFB),
    /// random-useful (the paper's RUB) or sequential.
    #[arg(long, value_name = "NAME", value_parser = parse_picker,
          default_value_t = PickerKind::default(), long_help = picker_help())]
    pub picker: PickerKind,
    /// Upload policy while downloading: tit-for-tat (BitTorrent), random
    /// (the paper's RP) or random-useful (RUP).
    #[arg(long, value_name = "NAME", value_parser = parse_choker,
          default_value_t = ChokerKind::default(), long_help = choker_help())]
    pub choker: ChokerKind,
    /// Upload policy while seeding: round-robin, fastest-upload, anti-leech
    /// (libtorrent), most-deprived (the paper's MDP) or random (RP).
    #[arg(long, value_name = "NAME", value_parser = parse_seed_choker,
          default_value_t = SeedChokerKind::default(), long_help = seed_choker_help())]
    pub seed_choker: SeedChokerKind,
    /// Upload slots (peers unchoked at once); 0 = the policy's default
    /// (4 for tit-for-tat and the libtorrent seed policies, 1 for the
    /// paper's random and most-deprived policies).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub upload_slots: usize,
    /// One-club throttling (scalability paper): while holding every piece
    /// but one, upload at this reduced rate mu' instead of
    /// --max-upload-rate (mu); back to mu once complete. 0 = off.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    pub one_club_rate: u64,
    /// Upload limit to each peer (a per-peer token bucket); 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    pub peer_upload_rate: u64,
    /// Download limit from each peer; 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    pub peer_download_rate: u64,
}

impl PolicyFlags {
    /// The torrent policies these flags name.
    pub fn policies(&self) -> Policies {
        Policies {
            picker: self.picker,
            seed_picker: None,
            choker: self.choker,
            seed_choker: self.seed_choker,
            upload_slots: self.upload_slots,
            one_club_rate: self.one_club_rate,
            peer_upload_rate: self.peer_upload_rate,
            peer_download_rate: self.peer_download_rate,
            random_seed: None,
            poisson_turns: false,
        }
    }
}
