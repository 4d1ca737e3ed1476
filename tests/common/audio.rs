//! Audio on the wire for tests that check what each party hears: generated A-law streams
//! SIPp plays (`rtp_stream`), captured RTP payloads decoded back to samples (tshark), and
//! the energy of a frequency in them (Goertzel).

use std::path::Path;
use switchboard::media::g711::Law;

use super::SIPP_DIR;
use super::tshark::Tshark;

/// `secs` of a pure tone as A-law at 8 kHz, about -12 dBFS.
pub fn tone(frequency: f64, secs: f64) -> Vec<u8> {
    let samples = (secs * 8000.0) as usize;
    (0..samples)
        .map(|n| {
            let t = n as f64 / 8000.0;
            Law::A.encode((8000.0 * (2.0 * std::f64::consts::PI * frequency * t).sin()) as i16)
        })
        .collect()
}

/// Writes `template` (a scenario under `tests/sipp`) into `dir` as `name`, with its pcap
/// playback replaced by looping `stream` (raw A-law, payload type 8) and its SDP offering or
/// answering PCMA only on SIPp's rtpstream port. Returns the path to pass to [`super::Sipp`].
pub fn streaming_scenario(dir: &Path, template: &str, name: &str, stream: &Path) -> String {
    let text = std::fs::read_to_string(format!("{SIPP_DIR}/{template}.xml")).unwrap();
    let playback = r#"<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>"#;
    assert!(text.contains(playback), "{template} plays the pcap");
    let scenario = text
        .replace(
            "m=audio [media_port] RTP/AVP 0 8 101",
            "m=audio [media_port] RTP/AVP 8 101",
        )
        .replace("m=audio [media_port]", "m=audio [auto_media_port]")
        .replace(
            playback,
            &format!(r#"<exec rtp_stream="{},-1,8"/>"#, stream.display()),
        );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, scenario).unwrap();
    path.with_extension("").display().to_string()
}

/// One captured RTP packet: when it arrived (Unix seconds), where, and its decoded samples.
#[derive(Debug, Clone)]
pub struct Frame {
    pub time: f64,
    pub port: u16,
    pub samples: Vec<i16>,
}

/// A tshark capture of the G.711 RTP payloads sent to some UDP ports on loopback.
pub struct PayloadCapture {
    tshark: Tshark,
}

impl PayloadCapture {
    pub fn start(ports: &[u16]) -> PayloadCapture {
        let fields = [
            "frame.time_epoch",
            "udp.dstport",
            "rtp.p_type",
            "rtp.payload",
        ];
        PayloadCapture {
            tshark: Tshark::start(&Tshark::to_ports(ports), ports, true, &fields),
        }
    }

    /// Stops and returns every PCMU/PCMA packet, decoded.
    pub fn stop(self) -> Vec<Frame> {
        self.tshark.stop().lines().filter_map(parse_frame).collect()
    }
}

fn parse_frame(line: &str) -> Option<Frame> {
    let mut fields = line.split('\t');
    let time: f64 = fields.next()?.parse().ok()?;
    let port: u16 = fields.next()?.trim().parse().ok()?;
    let law = match fields.next()?.trim() {
        "0" => Law::Mu,
        "8" => Law::A,
        _ => return None,
    };
    // tshark prints payload bytes as `aa:bb:..` or, in newer versions, `aabb..`.
    let hex: String = fields
        .next()?
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let samples = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .map(|b| law.decode(b))
        .collect();
    Some(Frame {
        time,
        port,
        samples,
    })
}

/// A frame's mean energy in dB (0 dB is digital silence).
pub fn level_db(samples: &[i16]) -> f64 {
    let energy =
        samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    10.0 * (energy + 1.0).log10()
}

/// The samples that reached `port` in `[from, to)`, in arrival order.
pub fn heard(frames: &[Frame], port: u16, from: f64, to: f64) -> Vec<i16> {
    frames
        .iter()
        .filter(|f| f.port == port && f.time >= from && f.time < to)
        .flat_map(|f| f.samples.iter().copied())
        .collect()
}

/// The mean power of `frequency` in `samples` (Goertzel over 160-sample blocks), in dB.
pub fn tone_db(samples: &[i16], frequency: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * frequency / 8000.0).cos();
    let blocks: Vec<f64> = samples
        .chunks_exact(160)
        .map(|block| {
            let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
            for x in block {
                let s0 = f64::from(*x) + coefficient * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (160.0 * 160.0)
        })
        .collect();
    let mean = blocks.iter().sum::<f64>() / blocks.len().max(1) as f64;
    10.0 * (mean + 1.0).log10()
}
