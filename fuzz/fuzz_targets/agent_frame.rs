//! The agent protocol's frame reader on arbitrary bytes: the host reads
//! [`Response`]s the guest writes, the guest [`Request`]s. The first byte
//! picks which; the rest is the stream, read frame by frame until an error.
//! A response that decodes must survive a write/read round trip unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::agent::{Request, Response};
use proto::frame::{read_message, write_message};

fuzz_target!(|data: &[u8]| {
    let Some((&which, mut stream)) = data.split_first() else {
        return;
    };
    // Every frame is at least its 4-byte length: the loop ends.
    for _ in 0..64 {
        if which & 1 == 0 {
            match read_message::<Response>(&mut stream) {
                Ok(response) => {
                    let mut out = Vec::new();
                    // Re-encoding may come out longer than the limit; the
                    // writer refuses that and nothing more is to check.
                    if write_message(&mut out, &response).is_err() {
                        continue;
                    }
                    let again: Response =
                        read_message(&mut out.as_slice()).expect("an encoded response decodes");
                    assert_eq!(again, response);
                }
                Err(_) => break,
            }
        } else if read_message::<Request>(&mut stream).is_err() {
            break;
        }
    }
});
