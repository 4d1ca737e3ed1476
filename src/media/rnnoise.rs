//! RNNoise's recurrent network, run by our own inference code, and one 10 ms frame through
//! the whole suppressor with it.
//!
//! Why not `nnnoiseless::DenoiseState` as it is: its network code is 61 % of a denoised
//! packet's cost (measured with `perf record` on `cargo bench --bench media_frame`). It
//! multiplies input-major (one column of int8 weights at a time, added into an output held in
//! memory), so each column waits on the previous one's stores; and its GRU states decay into
//! subnormal floats, which make every multiply that reads them take a microcode assist on
//! x86. Here the same weights are widened to `f32` once and laid out in blocks of eight
//! neurons (`Matrix`), so a block's eight sums stay in one vector register while every
//! input adds its column (no horizontal sum per neuron, no store between inputs); the
//! network runs inside `pulp`'s runtime dispatch (`simd`), which compiles it for AVX2 and
//! for baseline x86-64 (SSE2) or AArch64 and picks what the CPU has, with no `unsafe` here and
//! no CPU-specific build; and states are flushed to zero before they turn subnormal
//! (`flush_tiny`). Everything else (band features, pitch search and filter, FFT) is still
//! `nnnoiseless`'s public `DenoiseFeatures`, and the weights are the ones it ships
//! (`build.rs` copies them from the dependency; nothing is duplicated here). The tests hold
//! the result to `DenoiseState`'s own output. Measured (the `media_frame` bench, two frames
//! of speech, same minutes on a 2-core AMD EPYC host): 84 µs against 112 µs through
//! `DenoiseState`; the network alone went from about 42 to about 27 µs of that with the
//! blocked layout and AVX2 (one dot product per neuron, SSE2 only, before). An earlier host
//! measured 71.5 against 150.6 µs with the dot-product layout: the ratio depends on the CPU.
//!
//! The network, as RNNoise defines it: a dense layer (42 features → 24, tanh), a voice
//! activity GRU (24), a noise GRU (fed the dense output, the VAD state and the features), a
//! denoise GRU (fed the VAD and noise states and the features), and a dense sigmoid layer
//! giving 22 band gains; weights and biases are int8 with 8 fractional bits, so each sum is
//! scaled by 1/256 before its activation, as RNNoise does.

use std::sync::OnceLock;

use easyfft::dyn_size::realfft::DynRealIfft;
use nnnoiseless::{DenoiseFeatures, EBAND_5MS, FRAME_SIZE, FRAME_SIZE_SHIFT, FREQ_SIZE, NB_BANDS};

/// The model bytes `nnnoiseless` ships, in its documented layer format.
static WEIGHTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rnnoise-weights.rnn"));

/// The file's int8 weights and biases are fixed-point with 8 fractional bits.
const WEIGHT_SCALE: f32 = 1.0 / 256.0;
const WINDOW_SIZE: usize = 2 * FRAME_SIZE;
const NB_FEATURES: usize = nnnoiseless::NB_FEATURES;

/// The vector instructions this CPU has, detected once. The network runs inside
/// [`pulp::Arch::dispatch`], which compiles `Frame::with_simd` (and everything it inlines)
/// once per instruction set and picks the best at run time: the same binary uses AVX2 where
/// the CPU has it, and SSE2 on any x86-64, with no `unsafe` here and no CPU-specific build.
fn simd() -> pulp::Arch {
    static ARCH: OnceLock<pulp::Arch> = OnceLock::new();
    *ARCH.get_or_init(pulp::Arch::new)
}

/// The shipped model, parsed once for the whole process and shared by every leg.
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(WEIGHTS).expect("nnnoiseless ships a well-formed model"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    Tanh,
    Sigmoid,
    Relu,
}

impl Activation {
    fn from_byte(b: i8) -> Option<Activation> {
        match b {
            0 => Some(Activation::Tanh),
            1 => Some(Activation::Sigmoid),
            2 => Some(Activation::Relu),
            _ => None,
        }
    }

    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Tanh => tanh_approx(x),
            Activation::Sigmoid => sigmoid_approx(x),
            Activation::Relu => x.max(0.0),
        }
    }
}

/// A weight matrix in blocks of [`LANES`] neurons: for each block, each input's weights to
/// its neurons side by side (`data[(block · inputs + i) · LANES + lane]`), the last block
/// padded with zero weights. A block's outputs are one vector of running sums, each input
/// adding its weights times its value (broadcast): no horizontal sum per neuron, no store
/// between inputs, and the compiler vectorises the lanes for whatever instruction set the
/// network is compiled for ([`simd`]).
#[derive(Debug)]
struct Matrix {
    inputs: usize,
    data: Vec<f32>,
}

/// Neurons per block: eight `f32` fill one AVX register or two SSE ones.
const LANES: usize = 8;

/// Independent running sums per block: one sum's adds wait for each other (a dependency
/// chain), so a few interleaved ones keep the vector unit busy.
const CHAINS: usize = 4;

impl Matrix {
    /// From the file's input-major int8 layout: `w[input * row_step + offset + neuron]`.
    fn from_input_major(
        w: &[i8],
        inputs: usize,
        neurons: usize,
        row_step: usize,
        offset: usize,
    ) -> Matrix {
        let blocks = neurons.div_ceil(LANES);
        let mut data = vec![0f32; blocks * inputs * LANES];
        for i in 0..inputs {
            for k in 0..neurons {
                let (block, lane) = (k / LANES, k % LANES);
                data[(block * inputs + i) * LANES + lane] = f32::from(w[i * row_step + offset + k]);
            }
        }
        Matrix { inputs, data }
    }

    /// `out[k] += Σ_i w[k][i] · x[i]` for every neuron (`out` may stop at the last neuron;
    /// padding neurons add nothing).
    #[inline(always)]
    fn mul_add(&self, out: &mut [f32], x: &[f32]) {
        let x = &x[..self.inputs];
        for (block, weights) in self.data.chunks_exact(self.inputs * LANES).enumerate() {
            let mut sums = [[0f32; LANES]; CHAINS];
            let mut columns = weights.chunks_exact(LANES).zip(x);
            'inputs: loop {
                for sum in &mut sums {
                    let Some((w, &xi)) = columns.next() else {
                        break 'inputs;
                    };
                    for lane in 0..LANES {
                        sum[lane] += w[lane] * xi;
                    }
                }
            }
            let at = block * LANES;
            for (lane, o) in out.iter_mut().skip(at).take(LANES).enumerate() {
                *o += sums.iter().map(|s| s[lane]).sum::<f32>();
            }
        }
    }
}

#[derive(Debug)]
struct Dense {
    weights: Matrix,
    bias: Vec<f32>,
    activation: Activation,
}

impl Dense {
    #[inline(always)]
    fn compute(&self, out: &mut [f32], input: &[f32]) {
        let n = self.bias.len();
        out[..n].copy_from_slice(&self.bias);
        self.weights.mul_add(out, input);
        for o in &mut out[..n] {
            *o = flush_tiny(self.activation.apply(*o * WEIGHT_SCALE));
        }
    }
}

/// A gated recurrent unit with RNNoise's gate order (update, reset, candidate) and its
/// reset-before-multiply form: the reset gate scales the state fed to the candidate's
/// recurrent weights.
#[derive(Debug)]
struct Gru {
    input: [Matrix; 3],
    recurrent: [Matrix; 3],
    bias: [Vec<f32>; 3],
    activation: Activation,
}

impl Gru {
    fn neurons(&self) -> usize {
        self.bias[0].len()
    }

    /// Updates `state` (padded to a multiple of [`LANES`]) from `input` (padded likewise).
    #[inline(always)]
    fn compute(&self, state: &mut [f32], input: &[f32]) {
        let n = self.neurons();
        let mut z = [0f32; MAX_NEURONS];
        let mut r = [0f32; MAX_PADDED];
        let mut h = [0f32; MAX_NEURONS];
        z[..n].copy_from_slice(&self.bias[0]);
        self.input[0].mul_add(&mut z, input);
        self.recurrent[0].mul_add(&mut z, state);
        r[..n].copy_from_slice(&self.bias[1]);
        self.input[1].mul_add(&mut r, input);
        self.recurrent[1].mul_add(&mut r, state);
        for (r, s) in r[..n].iter_mut().zip(&state[..n]) {
            *r = s * sigmoid_approx(*r * WEIGHT_SCALE);
        }
        h[..n].copy_from_slice(&self.bias[2]);
        self.input[2].mul_add(&mut h, input);
        self.recurrent[2].mul_add(&mut h, &r);
        for ((s, z), h) in state[..n].iter_mut().zip(&z[..n]).zip(&h[..n]) {
            let z = sigmoid_approx(*z * WEIGHT_SCALE);
            *s = flush_tiny(z * *s + (1.0 - z) * self.activation.apply(*h * WEIGHT_SCALE));
        }
    }
}

/// Zero for magnitudes below 1e-30. A state that decays geometrically (an update gate near 1
/// with nothing coming in) ends up subnormal, and every multiply that reads a subnormal takes
/// a microcode assist on x86 costing about a hundred cycles: measured, that made the network
/// three times slower on ordinary speech. Nothing below 1e-30 is audible in a gain.
#[inline(always)]
fn flush_tiny(x: f32) -> f32 {
    if x.abs() < 1e-30 { 0.0 } else { x }
}

const MAX_NEURONS: usize = 128;
const MAX_PADDED: usize = MAX_NEURONS.next_multiple_of(LANES);

/// The whole network, widened and laid out in blocks of neurons ([`Matrix`]).
#[derive(Debug)]
struct Model {
    input_dense: Dense,
    vad_gru: Gru,
    noise_gru: Gru,
    denoise_gru: Gru,
    denoise_output: Dense,
    vad_output: Dense,
}

/// Reads the model file layer by layer; `None` if it is truncated, has bytes left over, or
/// its layer sizes do not chain.
struct Reader<'a> {
    bytes: &'a [i8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [i8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    fn header(&mut self) -> Option<(usize, usize, Activation)> {
        let h = self.take(3)?;
        let inputs = usize::try_from(h[0]).ok()?;
        let neurons = usize::try_from(h[1]).ok()?;
        (neurons <= MAX_NEURONS).then_some(())?;
        Some((inputs, neurons, Activation::from_byte(h[2])?))
    }

    fn dense(&mut self) -> Option<Dense> {
        let (inputs, neurons, activation) = self.header()?;
        let w = self.take(inputs * neurons)?;
        let bias = self.take(neurons)?;
        Some(Dense {
            weights: Matrix::from_input_major(w, inputs, neurons, neurons, 0),
            bias: bias.iter().map(|b| f32::from(*b)).collect(),
            activation,
        })
    }

    fn gru(&mut self) -> Option<Gru> {
        let (inputs, n, activation) = self.header()?;
        let w = self.take(3 * inputs * n)?;
        let u = self.take(3 * n * n)?;
        let bias = self.take(3 * n)?;
        let gate = |g: usize| {
            (
                Matrix::from_input_major(w, inputs, n, 3 * n, g * n),
                Matrix::from_input_major(u, n, n, 3 * n, g * n),
                bias[g * n..(g + 1) * n]
                    .iter()
                    .map(|b| f32::from(*b))
                    .collect::<Vec<f32>>(),
            )
        };
        let (w0, u0, b0) = gate(0);
        let (w1, u1, b1) = gate(1);
        let (w2, u2, b2) = gate(2);
        Some(Gru {
            input: [w0, w1, w2],
            recurrent: [u0, u1, u2],
            bias: [b0, b1, b2],
            activation,
        })
    }
}

impl Model {
    /// Parses the `nnnoiseless` model format (int8 throughout): for each layer its input
    /// count, neuron count and activation, then weights (input-major) and biases; a GRU has
    /// input weights, then recurrent weights, for the three gates side by side.
    fn parse(bytes: &[u8]) -> Option<Model> {
        let signed: Vec<i8> = bytes.iter().map(|b| i8::from_ne_bytes([*b])).collect();
        let mut r = Reader { bytes: &signed };
        let model = Model {
            input_dense: r.dense()?,
            vad_gru: r.gru()?,
            noise_gru: r.gru()?,
            denoise_gru: r.gru()?,
            denoise_output: r.dense()?,
            vad_output: r.dense()?,
        };
        let (dense_n, vad_n) = (model.input_dense.bias.len(), model.vad_gru.neurons());
        let noise_n = model.noise_gru.neurons();
        let chains = r.bytes.is_empty()
            && model.input_dense.weights.inputs == NB_FEATURES
            && model.vad_gru.input[0].inputs == dense_n
            && model.noise_gru.input[0].inputs == dense_n + vad_n + NB_FEATURES
            && model.denoise_gru.input[0].inputs == vad_n + noise_n + NB_FEATURES
            && model.denoise_output.bias.len() == NB_BANDS
            && model.vad_output.bias.len() == 1;
        chains.then_some(model)
    }
}

/// One stream's recurrent state. Buffers are padded to [`LANES`] with zeros that stay zero.
#[derive(Debug)]
struct NetState {
    model: &'static Model,
    vad: [f32; MAX_PADDED],
    noise: [f32; MAX_PADDED],
    denoise: [f32; MAX_PADDED],
}

impl NetState {
    fn new(model: &'static Model) -> NetState {
        NetState {
            model,
            vad: [0.0; MAX_PADDED],
            noise: [0.0; MAX_PADDED],
            denoise: [0.0; MAX_PADDED],
        }
    }

    /// Band gains and voice-activity probability for one frame's features, computed with the
    /// widest vector instructions this CPU has ([`simd`]).
    fn compute(&mut self, gains: &mut [f32; NB_BANDS], features: &[f32]) -> f32 {
        simd().dispatch(Frame {
            state: self,
            gains,
            features,
        })
    }

    #[inline(always)]
    fn compute_inline(&mut self, gains: &mut [f32; NB_BANDS], features: &[f32]) -> f32 {
        let m = self.model;
        let mut features_padded = [0f32; MAX_PADDED];
        features_padded[..NB_FEATURES].copy_from_slice(&features[..NB_FEATURES]);
        let dense_n = m.input_dense.bias.len();
        let vad_n = m.vad_gru.neurons();
        let noise_n = m.noise_gru.neurons();
        let mut dense = [0f32; MAX_PADDED];
        m.input_dense.compute(&mut dense, &features_padded);
        m.vad_gru.compute(&mut self.vad, &dense);
        let mut vad = [0f32; 1];
        m.vad_output.compute(&mut vad, &self.vad);

        let features = &features[..NB_FEATURES];
        let noise_in = concat([&dense[..dense_n], &self.vad[..vad_n], features]);
        m.noise_gru.compute(&mut self.noise, &noise_in);
        let denoise_in = concat([&self.vad[..vad_n], &self.noise[..noise_n], features]);
        m.denoise_gru.compute(&mut self.denoise, &denoise_in);
        m.denoise_output.compute(gains, &self.denoise);
        vad[0]
    }
}

/// One frame through the network, as [`pulp`] runs it. A struct rather than a closure: pulp
/// compiles `with_simd` inside a function built for the chosen instruction set, and only code
/// inlined into it gets those instructions; a closure this large was not inlined, and ran as
/// baseline code whatever the CPU.
struct Frame<'a> {
    state: &'a mut NetState,
    gains: &'a mut [f32; NB_BANDS],
    features: &'a [f32],
}

impl pulp::WithSimd for Frame<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f32 {
        self.state.compute_inline(self.gains, self.features)
    }
}

/// A GRU's input: three vectors end to end.
fn concat(parts: [&[f32]; 3]) -> [f32; 3 * MAX_PADDED] {
    let mut out = [0f32; 3 * MAX_PADDED];
    let mut at = 0;
    for part in parts {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    out
}

/// RNNoise's tanh: a table every 0.04 with a first-order correction, as fast as a lookup and
/// within 1e-5 of `tanh`.
#[inline(always)]
fn tanh_approx(x: f32) -> f32 {
    static TABLE: OnceLock<[f32; 201]> = OnceLock::new();
    // A NaN saturates rather than spreading through the recurrent state.
    if x.is_nan() || x >= 8.0 {
        return 1.0;
    }
    if x <= -8.0 {
        return -1.0;
    }
    let table = TABLE.get_or_init(|| std::array::from_fn(|i| (0.04 * i as f64).tanh() as f32));
    let (ax, sign) = if x < 0.0 { (-x, -1.0) } else { (x, 1.0) };
    let i = (0.5 + 25.0 * ax).floor();
    let dx = ax - 0.04 * i;
    let y = table[i as usize];
    let dy = 1.0 - y * y;
    sign * (y + dx * dy * (1.0 - y * dx))
}

#[inline(always)]
fn sigmoid_approx(x: f32) -> f32 {
    0.5 + 0.5 * tanh_approx(0.5 * x)
}

/// The analysis/synthesis window RNNoise uses (power-complementary, so overlap-add of two
/// windowed halves reconstructs the signal).
fn window() -> &'static [f32; WINDOW_SIZE] {
    static WINDOW: OnceLock<[f32; WINDOW_SIZE]> = OnceLock::new();
    WINDOW.get_or_init(|| {
        use std::f64::consts::FRAC_PI_2;
        let mut w = [0f32; WINDOW_SIZE];
        for i in 0..FRAME_SIZE {
            let s = (FRAC_PI_2 * (i as f64 + 0.5) / FRAME_SIZE as f64).sin();
            let v = (FRAC_PI_2 * s * s).sin() as f32;
            w[i] = v;
            w[WINDOW_SIZE - 1 - i] = v;
        }
        w
    })
}

/// Band gains (22 values at band edges) interpolated linearly onto the FFT bins; bins above
/// the last band edge get zero.
fn interp_band_gain(out: &mut [f32; FREQ_SIZE], bands: &[f32; NB_BANDS]) {
    out.fill(0.0);
    for i in 0..NB_BANDS - 1 {
        let start = EBAND_5MS[i] << FRAME_SIZE_SHIFT;
        let size = (EBAND_5MS[i + 1] - EBAND_5MS[i]) << FRAME_SIZE_SHIFT;
        for j in 0..size {
            let frac = j as f32 / size as f32;
            out[start + j] = (1.0 - frac) * bands[i] + frac * bands[i + 1];
        }
    }
}

/// One stream through RNNoise, 480 samples at 48 kHz at a time: a drop-in for
/// `nnnoiseless::DenoiseState::process_frame` that runs the network above.
pub struct FrameDenoiser {
    features: DenoiseFeatures,
    net: NetState,
    last_gains: [f32; NB_BANDS],
    time: [f32; WINDOW_SIZE],
    overlap: [f32; FRAME_SIZE],
}

impl std::fmt::Debug for FrameDenoiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDenoiser").finish_non_exhaustive()
    }
}

impl Default for FrameDenoiser {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDenoiser {
    pub const FRAME_SIZE: usize = FRAME_SIZE;

    pub fn new() -> FrameDenoiser {
        FrameDenoiser {
            features: DenoiseFeatures::new(),
            net: NetState::new(model()),
            last_gains: [0.0; NB_BANDS],
            time: [0.0; WINDOW_SIZE],
            overlap: [0.0; FRAME_SIZE],
        }
    }

    /// Denoises one frame (samples in the i16 range); returns the voice-activity probability.
    /// Output lags input by one frame (the overlap-add), and the very first output frame is
    /// the zero-initialised window's tail.
    pub fn process_frame(&mut self, output: &mut [f32], input: &[f32]) -> f32 {
        self.features.shift_and_filter_input(input);
        let silent = self.features.compute_frame_features();
        let mut vad = 0.0;
        if !silent {
            let mut gains = [0f32; NB_BANDS];
            vad = self.net.compute(&mut gains, self.features.features());
            self.features.pitch_filter(&gains);
            // Gains fall no faster than 0.6 per frame: no pumping on short pauses.
            for (g, last) in gains.iter_mut().zip(&mut self.last_gains) {
                *g = g.max(0.6 * *last);
                *last = *g;
            }
            let mut bin_gains = [0f32; FREQ_SIZE];
            interp_band_gain(&mut bin_gains, &gains);
            self.features.x *= &bin_gains[..];
        }
        self.features.x.real_ifft_using(&mut self.time);
        // The inverse FFT is unnormalised and each half of the window overlaps another.
        for (t, w) in self.time.iter_mut().zip(window()) {
            *t = *t / 2.0 * w;
        }
        for (i, out) in output.iter_mut().enumerate().take(FRAME_SIZE) {
            *out = self.time[i] + self.overlap[i];
            self.overlap[i] = self.time[FRAME_SIZE + i];
        }
        vad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_signals as sig;

    /// The synthetic talker plus white noise, each 8 kHz sample held for six 48 kHz ones
    /// (the images are content too); long enough for every GRU to settle.
    fn noisy_speech(seconds: usize) -> Vec<f32> {
        let n = 8000 * seconds;
        let (speech, _) = sig::talker(n, 0.6, 0.6, 8000.0);
        let noise = sig::white_noise(n, 800.0, 5);
        speech
            .iter()
            .zip(&noise)
            .flat_map(|(s, w)| [s + w; 6])
            .collect()
    }

    #[test]
    fn the_shipped_weights_are_nnnoiseless_own_model() {
        // Loaded into nnnoiseless itself, the bytes build.rs found give bit-identical output
        // to its built-in model: they are the same network.
        let model = nnnoiseless::RnnModel::from_static_bytes(WEIGHTS).expect("parses");
        let mut ours = nnnoiseless::DenoiseState::from_model(model);
        let mut builtin = nnnoiseless::DenoiseState::new();
        let (mut a, mut b) = ([0f32; FRAME_SIZE], [0f32; FRAME_SIZE]);
        for frame in noisy_speech(1).chunks_exact(FRAME_SIZE) {
            ours.process_frame(&mut a, frame);
            builtin.process_frame(&mut b, frame);
            assert_eq!(a, b);
        }
        assert!(Model::parse(WEIGHTS).is_some());
    }

    #[test]
    fn a_truncated_or_padded_model_is_refused() {
        let bytes = WEIGHTS;
        assert!(Model::parse(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Model::parse(&longer).is_none());
        assert!(Model::parse(&[]).is_none());
    }

    #[test]
    fn output_matches_nnnoiseless_denoise_state() {
        // Same features, same network, different summation order: the two may differ by
        // float rounding only (measured: 0.006 at most on the i16 scale, 130 dB down).
        // Compared over 4 s of noisy speech.
        let input = noisy_speech(4);
        let mut ours = FrameDenoiser::new();
        let mut reference = nnnoiseless::DenoiseState::new();
        let (mut a, mut b) = ([0f32; FRAME_SIZE], [0f32; FRAME_SIZE]);
        let (mut worst, mut err, mut energy) = (0f32, 0f64, 0f64);
        let (mut vad_ours, mut vad_ref) = (0f32, 0f32);
        for frame in input.chunks_exact(FRAME_SIZE) {
            vad_ours += ours.process_frame(&mut a, frame);
            vad_ref += reference.process_frame(&mut b, frame);
            for (x, y) in a.iter().zip(&b) {
                worst = worst.max((x - y).abs());
                err += f64::from(x - y).powi(2);
                energy += f64::from(*y).powi(2);
            }
        }
        let snr_db = 10.0 * (energy / err.max(1e-12)).log10();
        assert!(worst < 0.5, "largest sample difference {worst}");
        assert!(
            snr_db > 100.0,
            "difference only {snr_db:.1} dB below the signal"
        );
        assert!(
            (vad_ours - vad_ref).abs() < 0.01 * vad_ref.max(1.0),
            "{vad_ours} vs {vad_ref}"
        );
        assert!(
            energy > 0.0 && vad_ref > 1.0,
            "the input exercised the network"
        );
    }

    #[test]
    fn digital_silence_stays_silent() {
        let mut d = FrameDenoiser::new();
        let mut out = [1f32; FRAME_SIZE];
        for _ in 0..10 {
            d.process_frame(&mut out, &[0.0; FRAME_SIZE]);
        }
        assert!(out.iter().all(|s| *s == 0.0));
    }

    #[test]
    fn tanh_approximation_is_close_everywhere() {
        for i in -1000..=1000 {
            let x = i as f32 / 100.0;
            assert!((tanh_approx(x) - x.tanh()).abs() < 2e-5, "at {x}");
        }
        assert_eq!(tanh_approx(f32::NAN), 1.0);
    }
}
