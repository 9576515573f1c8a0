package audio

import (
	"encoding/binary"
	"io"
)

// WAVSize is the byte size of the WAV file WriteWAV writes for n samples.
func WAVSize(n int) int { return 44 + 2*n }

// WriteWAV writes samples as a mono RIFF WAVE file, PCM 16-bit little-endian at rate
// (the canonical 44-byte header: RIFF, "fmt " chunk of 16 bytes with format 1, "data").
func WriteWAV(w io.Writer, samples []int16, rate int) error {
	le := binary.LittleEndian
	data := uint32(2 * len(samples))
	var h [44]byte
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], 36+data)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], 1) // PCM
	le.PutUint16(h[22:], 1) // mono
	le.PutUint32(h[24:], uint32(rate))
	le.PutUint32(h[28:], uint32(rate*2)) // byte rate
	le.PutUint16(h[32:], 2)              // block align
	le.PutUint16(h[34:], 16)             // bits per sample
	copy(h[36:], "data")
	le.PutUint32(h[40:], data)
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	buf := make([]byte, 0, 8192)
	for i, s := range samples {
		buf = le.AppendUint16(buf, uint16(s))
		if len(buf) == cap(buf) || i == len(samples)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}
