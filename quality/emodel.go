package quality

import "math"

// EModelInput holds the ITU-T G.107 (06/2015) transmission parameters. Start from
// DefaultEModelInput (Table 3 default values); the zero value is not the default.
type EModelInput struct {
	SLR, RLR float64 // send / receive loudness rating, dB (8, 2)
	STMR     float64 // sidetone masking rating, dB (15)
	LSTR     float64 // listener sidetone rating, dB (18)
	Ds, Dr   float64 // D-value of telephone, send / receive side (3, 3)
	TELR     float64 // talker echo loudness rating, dB (65)
	WEPL     float64 // weighted echo path loss, dB (110)
	T        float64 // mean one-way delay of the echo path, ms (0)
	Tr       float64 // round-trip delay in a 4-wire loop, ms (0)
	Ta       float64 // absolute one-way delay, ms (0)
	Qdu      float64 // number of quantisation distortion units (1)
	Ie       float64 // equipment impairment factor (0)
	Bpl      float64 // packet-loss robustness factor (4.3)
	Ppl      float64 // packet-loss probability, percent (0)
	BurstR   float64 // burst ratio (1)
	Nc       float64 // circuit noise referred to the 0 dBr point, dBm0p (-70)
	Nfor     float64 // noise floor at the receive side, dBmp (-64)
	Ps, Pr   float64 // room noise at send / receive side, dB(A) (35, 35)
	A        float64 // advantage factor (0)
	MT       float64 // minimum perceivable delay for Idd, ms (100)
	ST       float64 // delay sensitivity for Idd (1)
}

// DefaultEModelInput returns the G.107 Table 3 default values; with them EModel gives
// R = 93.19 (the "93.2" of G.107 §7.7) and MOS = 4.41.
func DefaultEModelInput() EModelInput {
	return EModelInput{
		SLR: 8, RLR: 2, STMR: 15, LSTR: 18, Ds: 3, Dr: 3, TELR: 65, WEPL: 110,
		Qdu: 1, Ie: 0, Bpl: 4.3, Ppl: 0, BurstR: 1,
		Nc: -70, Nfor: -64, Ps: 35, Pr: 35, A: 0, MT: 100, ST: 1,
	}
}

func lg(x float64) float64  { return math.Log10(x) }
func p10(x float64) float64 { return math.Pow(10, x) }

// EModel computes the transmission rating R and the MOS-CQE of ITU-T G.107 (06/2015):
// R = Ro − Is − Id − Ie,eff + A (eq. 7-1), with Ro (§7.2), Is (§7.3), Id = Idte + Idle +
// Idd (§7.4) and Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl/BurstR + Bpl) (eq. 7-29). MOS follows
// eq. B-4 (MOSFromR).
func EModel(in EModelInput) (r, mos float64) {
	if in.BurstR < 1 {
		in.BurstR = 1
	}
	if in.Bpl <= 0 {
		in.Bpl = 1
	}
	if in.Ppl < 0 {
		in.Ppl = 0
	}
	if in.Qdu < 1 {
		in.Qdu = 1
	}
	if in.MT <= 0 {
		in.MT = 100
	}
	if in.ST <= 0 {
		in.ST = 1
	}
	olr := in.SLR + in.RLR
	// §7.2 basic signal-to-noise ratio.
	pre := in.Pr + 10*lg(1+p10((10-in.LSTR)/10))                       // eq. 7-6
	nor := in.RLR - 121 + pre + 0.008*(pre-35)*(pre-35)                // eq. 7-5
	nos := in.Ps - in.SLR - in.Ds - 100 + 0.004*sq(in.Ps-olr-in.Ds-14) // eq. 7-4
	nfo := in.Nfor + in.RLR                                            // eq. 7-7
	no := 10 * lg(p10(in.Nc/10)+p10(nos/10)+p10(nor/10)+p10(nfo/10))   // eq. 7-3
	ro := 15 - 1.5*(in.SLR+no)                                         // eq. 7-2

	// §7.3 simultaneous impairment factor.
	q := 37 - 15*lg(in.Qdu)                                                // eq. 7-13
	g := 1.07 + 0.258*q + 0.0602*q*q                                       // eq. 7-12
	z := 46.0/30 - g/40                                                    // eq. 7-11
	y := (ro-100)/15 + 46.0/8.4 - g/9                                      // eq. 7-10
	iq := 15 * lg(1+p10(y)+p10(z))                                         // eq. 7-9
	stmro := -10 * lg(p10(-in.STMR/10)+math.Exp(-in.T/4)*p10(-in.TELR/10)) // eq. 7-15
	ist := 12*math.Pow(1+math.Pow((stmro-13)/6, 8), 1.0/8) -
		28*math.Pow(1+math.Pow((stmro+1)/19.4, 35), 1.0/35) -
		13*math.Pow(1+math.Pow((stmro-3)/33, 13), 1.0/13) + 29 // eq. 7-14
	xolr := olr + 0.2*(64+no-in.RLR)                               // eq. 7-17
	iolr := 20 * (math.Pow(1+math.Pow(xolr/8, 8), 1.0/8) - xolr/8) // eq. 7-16
	is := iolr + ist + iq                                          // eq. 7-8

	// §7.4 delay impairment factor.
	terv := in.TELR - 40*lg((1+in.T/10)/(1+in.T/150)) + 6*math.Exp(-0.3*in.T*in.T) // eq. 7-22
	if in.STMR < 9 {
		terv += ist / 2 // eq. 7-23
	}
	re := 80 + 2.5*(terv-14)                                                       // eq. 7-21
	roe := -1.5 * (no - in.RLR)                                                    // eq. 7-20
	idte := ((roe-re)/2 + math.Sqrt(sq(roe-re)/4+100) - 1) * (1 - math.Exp(-in.T)) // eq. 7-19
	if in.STMR > 20 {
		// eq. 7-24: Idte is modified for very high STMR.
		idte = idte/2 + math.Sqrt(idte*idte/4+ist*ist)
	}
	rle := 10.5 * (in.WEPL + 7) * math.Pow(in.Tr+1, -0.25) // eq. 7-26
	idle := (ro-rle)/2 + math.Sqrt(sq(ro-rle)/4+169)       // eq. 7-25
	idd := 0.0
	if in.Ta > in.MT { // eq. 7-27 / 7-28
		x := lg(in.Ta/in.MT) / lg(2)
		s6 := 6 * in.ST
		idd = 25 * (math.Pow(1+math.Pow(x, s6), 1/s6) - 3*math.Pow(1+math.Pow(x/3, s6), 1/s6) + 2)
	}
	id := idte + idle + idd

	// §7.5 effective equipment impairment factor.
	ieff := in.Ie + (95-in.Ie)*in.Ppl/(in.Ppl/in.BurstR+in.Bpl) // eq. 7-29

	r = ro - is - id - ieff + in.A
	return r, MOSFromR(r)
}

func sq(x float64) float64 { return x * x }

// MOSFromR converts an R rating to MOS-CQE per ITU-T G.107 Annex B eq. B-4:
// 1 for R < 0, 4.5 for R > 100, else 1 + 0.035R + R(R−60)(100−R)·7·10⁻⁶ (floored at 1).
func MOSFromR(r float64) float64 {
	switch {
	case r != r: // NaN
		return 1
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	// The cubic dips just below 1 for 0 < R < 6.5; MOS is defined on [1, 4.5].
	return math.Max(1, 1+0.035*r+r*(r-60)*(100-r)*7e-6)
}

// voipR scores a packet stream: the default G.107 parameters with the codec's Ie and
// Bpl, the measured Ppl and BurstR, and T = Ta = one-way delay, Tr = 2·Ta (a
// four-wire VoIP path whose echo, if any, returns over the same delay).
func voipR(ie, bpl, ppl, burstR, oneWayMs float64) (r, mos float64) {
	in := DefaultEModelInput()
	in.Ie, in.Bpl, in.Ppl, in.BurstR = ie, bpl, ppl, burstR
	if oneWayMs > 0 {
		in.T, in.Ta, in.Tr = oneWayMs, oneWayMs, 2*oneWayMs
	}
	return EModel(in)
}
