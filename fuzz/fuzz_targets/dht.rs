//! DHT datagrams: KRPC decoding never panics, what decodes re-encodes to
//! the same message, and a node fed any datagram stays within its bounds.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use riffle_protocol::dht::krpc::Message;
use riffle_protocol::dht::{Config, Node};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("re-decodes");
        assert_eq!(again, m);
    }
    let now = Instant::now();
    let config = Config {
        bootstrap: vec!["10.0.0.1:6881".parse().unwrap()],
        ..Config::default()
    };
    let mut node = Node::new(config, None, now);
    node.handle(now, "10.0.0.1:6881".parse().unwrap(), data);
    node.handle(now, "10.0.0.2:6881".parse().unwrap(), data);
    while node.poll_transmit().is_some() {}
    assert!(node.stats().nodes <= 1);
});
