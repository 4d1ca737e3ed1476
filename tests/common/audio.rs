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
    let blocks: Vec<f64> = samples
        .chunks_exact(160)
        .map(|block| goertzel(block, frequency))
        .collect();
    let mean = blocks.iter().sum::<f64>() / blocks.len().max(1) as f64;
    10.0 * (mean + 1.0).log10()
}

/// The power of `frequency` in `block` (Goertzel), scaled so a sine of amplitude A gives A²/4.
fn goertzel(block: &[i16], frequency: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * frequency / 8000.0).cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    for x in block {
        let s0 = f64::from(*x) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = block.len().max(1) as f64;
    (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (n * n)
}

/// The keypad in DTMF order: row `i / 4` and column `i % 4` of the digit at `i`.
const KEYPAD: &str = "123A456B789C*0#D";
const DTMF_ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const DTMF_COLUMNS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// `secs` of the DTMF tone pair of `digit` as A-law at 8 kHz, each tone about -15 dBFS.
pub fn dtmf_tone(digit: char, secs: f64) -> Vec<u8> {
    let key = KEYPAD.find(digit).expect("a DTMF digit");
    let (row, column) = (DTMF_ROWS[key / 4], DTMF_COLUMNS[key % 4]);
    let samples = (secs * 8000.0) as usize;
    (0..samples)
        .map(|n| {
            let w = 2.0 * std::f64::consts::PI * n as f64 / 8000.0;
            Law::A.encode((6000.0 * ((w * row).sin() + (w * column).sin())) as i16)
        })
        .collect()
}

/// The DTMF digits keyed in band in `samples` (8 kHz), in order: a 20 ms block holds a digit
/// when its strongest row and column tones each carry a tenth of the block's power or more.
pub fn dtmf_digits(samples: &[i16]) -> String {
    let strongest = |block: &[i16], tones: &[f64; 4]| {
        (0..4)
            .map(|i| (i, goertzel(block, tones[i])))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0))
    };
    let mut digits = String::new();
    let mut last = None;
    for block in samples.chunks_exact(160) {
        let power = block.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / 160.0;
        let (row, row_power) = strongest(block, &DTMF_ROWS);
        let (column, column_power) = strongest(block, &DTMF_COLUMNS);
        let key = (power > 1e4 && row_power > power / 10.0 && column_power > power / 10.0)
            .then(|| KEYPAD.as_bytes()[4 * row + column] as char);
        if key != last {
            digits.extend(key);
            last = key;
        }
    }
    digits
}

/// The RFC 4733 event code of a DTMF digit (§3.2: 0-9, `*` 10, `#` 11, A-D 12-15).
pub fn telephone_event_code(digit: char) -> u8 {
    match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        _ => panic!("{digit} is no DTMF digit"),
    }
}

/// One RTP packet of a stream written with [`write_rtp_pcap`].
pub struct RtpPacket {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

/// Writes `packets`, each at its offset from the start, as a pcap (Ethernet, IPv4, UDP on
/// loopback) for SIPp's `play_pcap_audio`, which keeps the RTP and the timing and puts the
/// call's addresses and ports in.
pub fn write_rtp_pcap(path: &Path, ssrc: u32, packets: &[(std::time::Duration, RtpPacket)]) {
    // Global header: magic, version 2.4, UTC offset, accuracy, snap length, link type Ethernet.
    let mut out = Vec::new();
    for word in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 65_535, 1] {
        out.extend(word.to_le_bytes());
    }
    for (at, rtp) in packets {
        let mut udp_payload = vec![rtp.payload_type | if rtp.marker { 0x80 } else { 0 }];
        udp_payload.insert(0, 0x80);
        udp_payload.extend(rtp.sequence.to_be_bytes());
        udp_payload.extend(rtp.timestamp.to_be_bytes());
        udp_payload.extend(ssrc.to_be_bytes());
        udp_payload.extend(&rtp.payload);
        let udp_len = 8 + udp_payload.len() as u16;
        let ip_len = 20 + udp_len;
        let mut frame = vec![0; 12];
        frame.extend([0x08, 0x00]);
        frame.extend([
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend([127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend(6000_u16.to_be_bytes());
        frame.extend(6002_u16.to_be_bytes());
        frame.extend(udp_len.to_be_bytes());
        frame.extend([0, 0]);
        frame.extend(udp_payload);
        let length = frame.len() as u32;
        for word in [at.as_secs() as u32, at.subsec_micros(), length, length] {
            out.extend(word.to_le_bytes());
        }
        out.extend(frame);
    }
    std::fs::write(path, out).unwrap();
}
