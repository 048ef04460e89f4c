//! `riffle tracker`: run the built-in HTTP + UDP tracker until stopped,
//! with the tracker-side policies of the scalability paper (shielding
//! newcomers, admission control) as flags.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use riffle_policies::locality::multitrack::Forwarding;
use riffle_policies::tracker::TrackerPolicy;
use riffle_tracker::{TrackerConfig, TrackerServer};

use crate::flags::locality::LocalityFlags;
use crate::flags::peer::parse_listen;

#[derive(Args, Debug)]
pub struct TrackerArgs {
    /// Address for both the HTTP tracker (/announce, /scrape) and the UDP
    /// tracker (BEP 15): the same port number serves both.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen, default_value = "0.0.0.0:6969")]
    listen: SocketAddr,
    /// Shield newcomers for SECS (the swarm scalability paper's "shielding newcomers"): a peer
    /// that announces with nothing downloaded is left out of the lists
    /// given to other leechers and is itself given seeds only, until it
    /// announces progress or SECS pass, so the publisher serves it first.
    #[arg(long, value_name = "SECS", value_parser = parse_positive_secs)]
    shield_newcomers: Option<Duration>,
    /// Admission control (swarm scalability paper): at most N downloading peers per
    /// swarm; a new one past N is refused with a failure reason and a
    /// retry interval. Seeds are always admitted.
    #[arg(long, value_name = "N", value_parser = parse_max_peers)]
    max_peers: Option<usize>,
    /// Seconds between a client's announces; `min interval` is half of it
    /// and a peer silent for two intervals is dropped.
    #[arg(long, value_name = "SECS", value_parser = parse_interval, default_value = "1800")]
    interval: Duration,
    /// Near-first replies (P4P's iTracker guidance): by default 70% of a
    /// list from the asker's own network and 30% at random; with costs in
    /// the file, by the cost weights. Counts per network at /stats.
    #[command(flatten)]
    locality: LocalityFlags,
    /// MultiTrack (paper 000): this tracker serves PID NAME of the
    /// --locality file, and forwards a share of its new downloaders to
    /// the --peer-tracker swarms by replicator dynamics on measured delay
    /// plus transit price (the file's [prices] NAME.OTHER).
    #[arg(long, value_name = "NAME", requires = "locality")]
    pid: Option<String>,
    /// Another MultiTrack tracker: its PID name and HTTP address
    /// (repeatable).
    #[arg(long, value_name = "NAME=ADDR:PORT", value_parser = parse_peer_tracker, requires = "pid")]
    peer_tracker: Vec<(String, SocketAddr)>,
    /// Seconds between MultiTrack updates (the paper's 8).
    #[arg(long, value_name = "SECS", value_parser = parse_positive_secs, default_value = "8")]
    update_every: Duration,
    /// What MultiTrack's payoffs count: multitrack (delay, transit price
    /// and congestion price), delay-only, or never (measure and publish,
    /// forward nobody).
    #[arg(long, value_name = "HOW", default_value = "multitrack", value_parser = parse_forwarding, requires = "pid")]
    forwarding: Forwarding,
}

/// `multitrack`, `delay-only` or `never`.
fn parse_forwarding(text: &str) -> std::result::Result<Forwarding, String> {
    Forwarding::ALL
        .into_iter()
        .find(|f| f.to_string() == text)
        .ok_or_else(|| {
            let names: Vec<String> = Forwarding::ALL.iter().map(|f| f.to_string()).collect();
            format!("{text:?} is not one of {}", names.join(", "))
        })
}

/// `NAME=ADDR:PORT`.
fn parse_peer_tracker(text: &str) -> std::result::Result<(String, SocketAddr), String> {
    let (name, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=ADDR:PORT"))?;
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an ADDR:PORT"))?;
    Ok((name.to_owned(), addr))
}

/// The MultiTrack settings of the flags (prices from `map`).
fn multitrack_config(
    args: &TrackerArgs,
    map: Option<&riffle_policies::locality::LocalityMap>,
) -> Result<Option<riffle_tracker::multitrack::MultiTrackConfig>> {
    let Some(own) = &args.pid else {
        return Ok(None);
    };
    let map = map.context("--pid needs --locality FILE naming the PIDs")?;
    let id = |name: &str| {
        map.pid(name)
            .with_context(|| format!("{name} is not a PID of the locality file"))
    };
    let me = id(own)?;
    let mut peers = Vec::new();
    for (name, addr) in &args.peer_tracker {
        peers.push(riffle_tracker::multitrack::PeerTracker {
            name: name.clone(),
            addr: Some(*addr),
            price: map.price(me, id(name)?),
        });
    }
    let mut config =
        riffle_tracker::multitrack::MultiTrackConfig::new(own.clone(), peers, args.update_every);
    config.forwarding = args.forwarding;
    Ok(Some(config))
}

/// A positive number of seconds (fractions allowed), at most a year.
fn parse_positive_secs(text: &str) -> std::result::Result<Duration, String> {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= YEAR => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{text:?} is not a number of seconds above 0 (at most a year)"
        )),
    }
}

/// An announce interval: at least 1 s (intervals go on the wire in whole
/// seconds).
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let d = parse_positive_secs(text)?;
    if d < Duration::from_secs(1) {
        return Err(format!("{text:?}: the interval must be at least 1 second"));
    }
    Ok(d)
}

/// A population cap of at least 1.
fn parse_max_peers(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a peer count of 1 or more")),
    }
}

impl TrackerArgs {
    fn policy(&self) -> TrackerPolicy {
        TrackerPolicy {
            shield_newcomers: self.shield_newcomers,
            max_peers: self.max_peers,
            ..TrackerPolicy::with_interval(self.interval)
        }
    }
}

/// Run the tracker until SIGINT or SIGTERM.
pub fn run(args: TrackerArgs) -> Result<()> {
    let policy = args.policy();
    let locality = args.locality.locality()?;
    let multitrack = multitrack_config(&args, locality.as_ref().and_then(|l| l.map()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("riffle-tracker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let near = locality.as_ref().map(describe_locality);
        if let Some(m) = &multitrack {
            println!(
                "multitrack: PID {}, peers {:?}, updates every {} s, payoffs: {}",
                m.own,
                m.peers
                    .iter()
                    .map(|p| match p.addr {
                        Some(a) => format!("{}={a} price {}", p.name, p.price),
                        None => format!("{} price {}", p.name, p.price),
                    })
                    .collect::<Vec<_>>(),
                m.every.as_secs_f64(),
                m.forwarding.help()
            );
        }
        let config = TrackerConfig {
            locality,
            multitrack,
            ..TrackerConfig::new(args.listen, policy)
        };
        let tracker = TrackerServer::start(config).await?;
        println!(
            "tracker listening on {} and {}",
            tracker.announce_url(),
            tracker.udp_url()
        );
        println!("{}", describe(&policy));
        if let Some(near) = near {
            println!("{near}; counts at {}", tracker.stats_url());
        }
        let _ = std::io::stdout().flush();
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        tracker.shutdown().await;
        println!("tracker stopped");
        Ok(())
    })
}

/// One line saying how replies are drawn by network.
fn describe_locality(l: &riffle_policies::locality::Locality) -> String {
    match l.map() {
        Some(m) if m.has_costs() => format!(
            "near-first replies over {} PIDs, weighted by inverse cost",
            m.pids().len()
        ),
        Some(m) => format!(
            "near-first replies over {} PIDs: {:.0}% from the asker's own",
            m.pids().len(),
            l.local_share() * 100.0
        ),
        None => format!(
            "near-first replies: {:.0}% from the asker's own /24 or /48",
            l.local_share() * 100.0
        ),
    }
}

/// One line saying which policies are in force.
fn describe(p: &TrackerPolicy) -> String {
    let shield = p
        .shield_newcomers
        .map_or("off".to_owned(), |d| format!("{} s", d.as_secs_f64()));
    let cap = p.max_peers.map_or("none".to_owned(), |n| {
        format!("{n} downloading peers per swarm")
    });
    format!(
        "announce interval {} s, shield newcomers: {shield}, admission cap: {cap}",
        p.interval.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_reject_bad_values() {
        assert_eq!(parse_positive_secs("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["0", "-1", "nan", "inf", "x", "1e12"] {
            assert!(parse_positive_secs(bad).is_err(), "{bad}");
        }
        assert!(parse_interval("0.5").is_err());
        assert_eq!(parse_interval("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_max_peers("3"), Ok(3));
        assert!(parse_max_peers("0").is_err());
        assert!(parse_max_peers("-2").is_err());
    }

    #[test]
    fn peer_trackers_and_multitrack_settings_parse() {
        assert_eq!(
            parse_peer_tracker("one=127.0.0.1:6969").unwrap(),
            ("one".to_string(), "127.0.0.1:6969".parse().unwrap())
        );
        assert!(parse_peer_tracker("one").is_err());
        assert!(parse_peer_tracker("one=nowhere").is_err());
        let map = crate::flags::locality::parse_map(
            "[pids]\none = [\"127.0.1.0/24\"]\ntwo = [\"127.0.2.0/24\"]\n[prices]\ntwo.one = 20.0",
        )
        .unwrap();
        let mut args = TrackerArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            shield_newcomers: None,
            max_peers: None,
            interval: Duration::from_secs(60),
            locality: LocalityFlags::default(),
            pid: Some("two".into()),
            peer_tracker: vec![("one".into(), "127.0.0.1:7000".parse().unwrap())],
            update_every: Duration::from_secs(8),
            forwarding: Forwarding::DelayOnly,
        };
        let m = multitrack_config(&args, Some(&map))
            .unwrap()
            .expect("a config");
        assert_eq!(m.own, "two");
        assert_eq!(m.peers[0].price, 20.0, "the price two -> one");
        assert_eq!(m.forwarding, Forwarding::DelayOnly);
        assert_eq!(parse_forwarding("never"), Ok(Forwarding::Never));
        assert!(parse_forwarding("sometimes").is_err());
        args.peer_tracker[0].0 = "three".into();
        let err = multitrack_config(&args, Some(&map))
            .unwrap_err()
            .to_string();
        assert!(err.contains("three"), "{err}");
        assert!(multitrack_config(&args, None).is_err(), "--pid needs a map");
    }

    #[test]
    fn policy_follows_the_flags() {
        let args = TrackerArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            shield_newcomers: Some(Duration::from_secs(5)),
            max_peers: Some(4),
            interval: Duration::from_secs(60),
            locality: LocalityFlags::default(),
            pid: None,
            peer_tracker: Vec::new(),
            update_every: Duration::from_secs(8),
            forwarding: Forwarding::Multitrack,
        };
        let p = args.policy();
        assert_eq!(p.shield_newcomers, Some(Duration::from_secs(5)));
        assert_eq!(p.max_peers, Some(4));
        assert_eq!(p.interval, Duration::from_secs(60));
        assert_eq!(p.peer_expiry, Duration::from_secs(120));
        assert!(describe(&p).contains("4 downloading peers"));
    }
}
