//! Media: RTP, G.711, SDP, stream rewriting (sans-IO).
