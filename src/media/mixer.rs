//! Mix-minus conferencing on 20 ms frames of 8 kHz linear audio: every participant hears the
//! sum of the others, never itself.
//!
//! The sum is taken once per sample in `i32` (no overflow for up to 65,536 full-scale
//! talkers), then each participant's own sample is subtracted and the result saturated to the
//! `i16` range: one pass over the inputs and one per output, so ten participants cost about
//! what three do per listener. A participant with no frame this tick (a late or lost packet)
//! contributes silence.

use crate::media::g711::{self, Law};
use crate::media::rtp::{PayloadType, RtpHeader, Ssrc};

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

/// One 20 ms frame.
pub type Frame = [i16; FRAME];

/// Writes into `outputs[i]` the saturated sum of every input but `inputs[i]`.
///
/// # Panics
/// When `outputs` is shorter than `inputs`.
pub fn mix_minus(inputs: &[Frame], outputs: &mut [Frame]) {
    assert!(outputs.len() >= inputs.len(), "one output per input");
    let mut sum = [0i32; FRAME];
    for input in inputs {
        for (s, x) in sum.iter_mut().zip(input) {
            *s += i32::from(*x);
        }
    }
    for (input, output) in inputs.iter().zip(outputs.iter_mut()) {
        for ((o, s), x) in output.iter_mut().zip(&sum).zip(input) {
            *o = (s - i32::from(*x)).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
}

/// One participant's outgoing stream of mixed audio: G.711 packets with their own RTP
/// numbering (the runtime passes them through the leg's rewriter like any other source).
#[derive(Debug)]
pub struct MixStream {
    header: RtpHeader,
    law: Law,
    first: bool,
}

impl MixStream {
    /// A stream in `law` with payload type `payload_type`.
    #[must_use]
    pub fn new(ssrc: Ssrc, law: Law, payload_type: PayloadType) -> MixStream {
        MixStream {
            header: RtpHeader {
                marker: true,
                payload_type,
                sequence: 0,
                timestamp: 0,
                ssrc,
            },
            law,
            first: true,
        }
    }

    /// The codec this stream encodes with.
    #[must_use]
    pub fn law(&self) -> Law {
        self.law
    }

    /// Encodes `frame` as the next packet into `out` (cleared first).
    pub fn next_packet(&mut self, frame: &Frame, out: &mut Vec<u8>) {
        let mut payload = [0u8; FRAME];
        g711::encode_into(self.law, frame, &mut payload);
        out.clear();
        self.header.marker = self.first;
        self.first = false;
        self.header.write(&payload, out);
        self.header.sequence = self.header.sequence.wrapping_add(1);
        self.header.timestamp = self.header.timestamp.wrapping_add(FRAME as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::RtpPacket;

    fn constant(v: i16) -> Frame {
        [v; FRAME]
    }

    #[test]
    fn each_participant_hears_the_others_and_not_itself() {
        let inputs = [constant(100), constant(20), constant(3)];
        let mut outputs = [constant(0); 3];
        mix_minus(&inputs, &mut outputs);
        assert_eq!(outputs[0][0], 23);
        assert_eq!(outputs[1][7], 103);
        assert_eq!(outputs[2][159], 120);
    }

    #[test]
    fn loud_sums_saturate_instead_of_wrapping() {
        let inputs = [constant(30_000), constant(30_000), constant(30_000)];
        let mut outputs = [constant(0); 3];
        mix_minus(&inputs, &mut outputs);
        assert!(outputs.iter().all(|o| o.iter().all(|s| *s == i16::MAX)));
        let inputs = [constant(-30_000), constant(-30_000), constant(0)];
        mix_minus(&inputs, &mut outputs);
        assert_eq!(outputs[2][0], i16::MIN);
        assert_eq!(outputs[0][0], -30_000);
    }

    #[test]
    fn two_participants_simply_hear_each_other() {
        let inputs = [constant(5), constant(-9)];
        let mut outputs = [constant(0); 2];
        mix_minus(&inputs, &mut outputs);
        assert_eq!((outputs[0][0], outputs[1][0]), (-9, 5));
    }

    #[test]
    fn a_mix_stream_numbers_its_packets_continuously() {
        let mut stream = MixStream::new(Ssrc(7), Law::A, PayloadType::PCMA);
        let mut out = Vec::new();
        stream.next_packet(&constant(1000), &mut out);
        let first = RtpPacket::parse(&out).unwrap();
        assert!(first.marker());
        assert_eq!(first.payload().len(), FRAME);
        let (seq, ts) = (first.sequence(), first.timestamp());
        stream.next_packet(&constant(1000), &mut out);
        let second = RtpPacket::parse(&out).unwrap();
        assert!(!second.marker());
        assert_eq!(second.sequence(), seq.wrapping_add(1));
        assert_eq!(second.timestamp(), ts.wrapping_add(160));
        assert_eq!(Law::A.decode(second.payload()[0]) / 100, 1000 / 100);
    }
}
