//! DNS answers (`dns::message`) as a nameserver, or anyone who guesses the query's port, sends
//! them: parsing never panics and never loops, what parses writes back and parses the same,
//! and the gateway locator given the message as the answer to each of its questions finishes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::dns::{Locator, LocatorOutput, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else {
        return;
    };
    let written = message.to_bytes().expect("a parsed message fits the wire");
    assert_eq!(
        Message::parse(&written).as_ref(),
        Ok(&message),
        "write → parse changed the message"
    );
    locate_with(&message, None);
    locate_with(&message, Some(5080));
});

/// SRV, then the targets' addresses: two rounds of questions at most, a third for the
/// fallback after an SRV answer without records.
fn locate_with(answer: &Message, port: Option<u16>) {
    let mut locator = Locator::new("carrier.test", port, 0);
    for _ in 0..3 {
        let mut questions = Vec::new();
        while let Some(output) = locator.poll_output() {
            match output {
                LocatorOutput::Query(question) => questions.push(question),
                LocatorOutput::Located(_) => return,
            }
        }
        for question in &questions {
            locator.handle_answer(question, Some(answer));
        }
    }
    panic!("the locator asked a third round of questions");
}
