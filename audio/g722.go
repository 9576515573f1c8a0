package audio

// G.722 (ITU-T Rec. G.722, 09/2012), decoder in mode 1 (64 kbit/s): each byte carries a
// 6-bit lower sub-band code (bits 1-6, ILR) and a 2-bit higher sub-band code (bits 7-8,
// IH). Each sub-band is ADPCM at 8 kHz with its own adaptive quantizer and pole-zero
// predictor (§4.2-§4.3, blocks INVQBL/INVQAL, LOGSCL/SCALEL, LOGSCH/SCALEH and the
// common block 4: RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ,
// PREDIC); the receive QMF (§4.4) turns the two sub-band samples into two 16 kHz output
// samples. Arithmetic follows the recommendation's 16-bit fixed point, with its
// saturations; the output is bit-exact with ffmpeg's independent decoder on random
// code words and on a stream its encoder made (g722_test.go).
//
// RTP (RFC 3551 §4.5.2): G.722 runs at 16 kHz but its RTP clock is 8000 Hz, so one
// timestamp unit is two output samples.

// Inverse quantizer tables (G.722 Table 6/7 (QQ6, 6-bit codes in mode 1) and the 4-bit
// table used for the predictor update (QQ4)), scaled as in the recommendation (×DET>>15).
var (
	g722QQ6 = [64]int32{
		-136, -136, -136, -136, -24808, -21904, -19008, -16704,
		-14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
		-7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
		-3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
		24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
		10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
		4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
		1688, 1360, 1040, 728, 432, 136, -432, -136,
	}
	g722QQ4 = [16]int32{0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
		20456, 12896, 8968, 6288, 4240, 2584, 1200, 0}
	// Lower sub-band log scale factor multipliers (WL) and the map from the 4-bit code
	// to its magnitude index (RIL).
	g722WL  = [8]int32{-60, -30, 58, 172, 334, 538, 1198, 3042}
	g722RIL = [16]int{0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0}
	// Higher sub-band: QQ2, WH and the code → WH index map.
	g722QQ2 = [4]int32{-7408, -1616, 7408, 1616}
	g722WH  = [3]int32{0, -214, 798}
	g722RIH = [4]int{2, 1, 2, 1}
	// ILB: the antilog table of SCALEL/SCALEH (2^(i/32) in Q11, as tabulated).
	g722ILB = [32]int32{
		2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383,
		2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
		2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371,
		3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
	}
	// Receive QMF coefficients h(0)..h(23) of §4.4 (Table 11), symmetric.
	g722QMF = [24]int32{
		3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876,
		3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3,
	}
)

func sat16(v int32) int32 {
	if v > 32767 {
		return 32767
	}
	if v < -32768 {
		return -32768
	}
	return v
}

func clamp(v, lo, hi int32) int32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// g722Band is the state of one sub-band's adaptive quantizer and predictor.
type g722Band struct {
	s   int32    // signal estimate (PREDIC)
	sz  int32    // zero-section estimate (FILTEZ)
	r   [3]int32 // reconstructed signal r(n), r(n-1), r(n-2)
	p   [3]int32 // partial reconstructed signal p(n), p(n-1), p(n-2)
	a   [3]int32 // pole coefficients a1, a2 (index 1, 2)
	b   [7]int32 // zero coefficients b1..b6
	d   [7]int32 // quantized difference d(n)..d(n-6)
	nb  int32    // log scale factor (NBL / NBH)
	det int32    // scale factor (DETL / DETH)
}

// scale is SCALEL (shift 8) / SCALEH (shift 10): the antilog of the log scale factor,
// in the units DET is used in.
func scale(nb int32, shift int32) int32 {
	i := (nb >> 6) & 31
	sh := shift - (nb >> 11)
	var v int32
	if sh < 0 {
		v = g722ILB[i] << -sh
	} else {
		v = g722ILB[i] >> sh
	}
	return v << 2
}

// adapt is block 4 of the recommendation: it takes the quantized difference dq of
// this sample and updates the predictor, leaving the estimate for the next one in s.
func (b *g722Band) adapt(dq int32) {
	neg := func(v int32) bool { return v < 0 }
	b.d[0] = dq
	b.r[0] = sat16(b.s + dq)  // RECONS
	b.p[0] = sat16(b.sz + dq) // PARREC

	// UPPOL2: a2 ← (1−2^-7)a2 + 2^-7·[sgn p0·sgn p2 − f(a1)·sgn p0·sgn p1].
	f := sat16(b.a[1] << 2)
	if neg(b.p[0]) == neg(b.p[1]) {
		f = -f
	}
	if f > 32767 {
		f = 32767
	}
	a2 := int32(-128)
	if neg(b.p[0]) == neg(b.p[2]) {
		a2 = 128
	}
	a2 += f >> 7
	a2 += (b.a[2] * 32512) >> 15
	a2 = clamp(a2, -12288, 12288)

	// UPPOL1: a1 ← (1−2^-8)a1 + 3·2^-8·sgn p0·sgn p1, |a1| ≤ 1 − 2^-4 − a2.
	a1 := int32(-192)
	if neg(b.p[0]) == neg(b.p[1]) {
		a1 = 192
	}
	a1 = sat16(a1 + (b.a[1]*32640)>>15)
	lim := sat16(15360 - a2)
	a1 = clamp(a1, -lim, lim)

	// UPZERO: bi ← (1−2^-8)bi + 2^-7·sgn d·sgn d(n−i), nothing added when d = 0.
	var step int32
	if dq != 0 {
		step = 128
	}
	var nb [7]int32
	for i := 1; i <= 6; i++ {
		w := step
		if neg(b.d[i]) != neg(dq) {
			w = -step
		}
		nb[i] = sat16(w + (b.b[i]*32640)>>15)
	}

	// DELAYA
	for i := 6; i >= 1; i-- {
		b.d[i] = b.d[i-1]
		b.b[i] = nb[i]
	}
	b.r[2], b.r[1] = b.r[1], b.r[0]
	b.p[2], b.p[1] = b.p[1], b.p[0]
	b.a[1], b.a[2] = a1, a2

	// FILTEP, FILTEZ, PREDIC
	sp := sat16((b.a[1]*sat16(b.r[1]+b.r[1]))>>15 + (b.a[2]*sat16(b.r[2]+b.r[2]))>>15)
	var sz int32
	for i := 6; i >= 1; i-- {
		sz += (b.b[i] * sat16(b.d[i]+b.d[i])) >> 15
	}
	b.sz = sat16(sz)
	b.s = sat16(sp + b.sz)
}

// G722Decoder decodes a G.722 64 kbit/s stream. The zero value is not ready: use
// NewG722Decoder (the scale factors start at their minimum, §6.2 reset).
type G722Decoder struct {
	low, high g722Band
	x         [24]int32 // QMF delay line: xs/xd pairs, oldest first
}

// NewG722Decoder returns a decoder in the reset state.
func NewG722Decoder() *G722Decoder {
	d := &G722Decoder{}
	d.Reset()
	return d
}

// Reset puts the decoder in the state of §6.2 (all zero, DETL = 32, DETH = 8).
func (d *G722Decoder) Reset() {
	*d = G722Decoder{}
	d.low.det = 32
	d.high.det = 8
}

// Decode appends two 16 kHz samples per input byte to dst.
func (d *G722Decoder) Decode(dst []int16, src []byte) []int16 {
	for _, c := range src {
		ilr := int(c & 0x3F)
		ih := int(c >> 6)

		// Lower sub-band: INVQBL gives the output difference from the 6-bit code,
		// INVQAL the predictor's from its 4 most significant bits.
		lo := &d.low
		rl := clamp(lo.s+(lo.det*g722QQ6[ilr])>>15, -16384, 16383)
		dlt := (lo.det * g722QQ4[ilr>>2]) >> 15
		lo.nb = clamp((lo.nb*127)>>7+g722WL[g722RIL[ilr>>2]], 0, 18432) // LOGSCL
		lo.det = scale(lo.nb, 8)                                        // SCALEL
		lo.adapt(dlt)

		// Higher sub-band.
		hi := &d.high
		dh := (hi.det * g722QQ2[ih]) >> 15
		rh := clamp(hi.s+dh, -16384, 16383)
		hi.nb = clamp((hi.nb*127)>>7+g722WH[g722RIH[ih]], 0, 22528) // LOGSCH
		hi.det = scale(hi.nb, 10)                                   // SCALEH
		hi.adapt(dh)

		// Receive QMF: xd = rl − rh and xs = rl + rh enter the delay line; the two
		// outputs are 2·Σ h(2i)·xd(j−i) and 2·Σ h(2i+1)·xs(j−i) (coefficients in Q13).
		copy(d.x[:22], d.x[2:])
		d.x[22] = rl + rh
		d.x[23] = rl - rh
		var o1, o2 int32
		for i := range 12 {
			o2 += d.x[2*i] * g722QMF[2*i]
			o1 += d.x[2*i+1] * g722QMF[2*i+1]
		}
		dst = append(dst, int16(sat16(o1>>11)), int16(sat16(o2>>11)))
	}
	return dst
}
