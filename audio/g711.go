package audio

import "sync"

// G.711 (ITU-T Rec. G.711, 11/88). Each byte is one 8 kHz sample. The tables are
// computed from the companding laws of the recommendation rather than copied:
//
// µ-law (Table 2a/b): the transmitted byte is the one's complement of sign (bit 8,
// 1 = positive before inversion), a 3-bit segment number and a 4-bit step. The decoded
// magnitude in 14-bit units is ((2·step + 33) << segment) − 33; ×4 gives the 16-bit
// value, i.e. ((step<<3 + 0x84) << segment) − 0x84.
//
// A-law (Table 1a/b): the even bits of the byte are inverted (XOR 0x55); bit 8 = 1 is
// positive. In 13-bit units the magnitude is 2·step + 1 in segment 0 and
// (2·step + 33) << (segment − 1) above; ×8 (16-bit scale) gives (step<<4 + 8) and
// (step<<4 + 0x108) << (segment − 1).

func ulawSample(b byte) int16 {
	u := ^b
	seg := int32(u>>4) & 7
	step := int32(u) & 0x0F
	mag := ((step<<3 + 0x84) << seg) - 0x84
	if u&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

func alawSample(b byte) int16 {
	a := b ^ 0x55
	seg := int32(a>>4) & 7
	step := int32(a) & 0x0F
	var mag int32
	if seg == 0 {
		mag = step<<4 + 8
	} else {
		mag = (step<<4 + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(mag)
	}
	return int16(-mag)
}

type g711Tables struct{ ulaw, alaw [256]int16 }

var g711 = sync.OnceValue(func() *g711Tables {
	t := new(g711Tables)
	for i := range 256 {
		t.ulaw[i] = ulawSample(byte(i))
		t.alaw[i] = alawSample(byte(i))
	}
	return t
})

// DecodeULaw appends the 16-bit linear samples of G.711 µ-law bytes to dst.
func DecodeULaw(dst []int16, src []byte) []int16 {
	t := &g711().ulaw
	for _, b := range src {
		dst = append(dst, t[b])
	}
	return dst
}

// DecodeALaw appends the 16-bit linear samples of G.711 A-law bytes to dst.
func DecodeALaw(dst []int16, src []byte) []int16 {
	t := &g711().alaw
	for _, b := range src {
		dst = append(dst, t[b])
	}
	return dst
}
