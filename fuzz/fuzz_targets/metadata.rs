//! BEP 9 ut_metadata messages: any payload is a message or an error.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use riffle_protocol::wire::MetadataMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = MetadataMessage::decode(&Bytes::copy_from_slice(data)) {
        // What decodes encodes back to something that decodes the same.
        let again = MetadataMessage::decode(&Bytes::from(m.encode())).expect("re-decodes");
        assert_eq!(again, m);
    }
});
