// Package audio turns the RTP payload of a call kept with `--keep-rtp full` back into
// sound: decoders for G.711 µ-law and A-law (ITU-T G.711) and G.722 (ITU-T G.722
// SB-ADPCM, 64 kbit/s mode), a playout that places each packet's samples by its RTP
// timestamp, a mixer of the two directions of a call, and a WAV (RIFF PCM 16-bit)
// writer. It lives at the top level (not under decode) because it is not on the
// capture path: the web handler (web/audio.go) uses it per request.
//
// Everything here is pure computation: no I/O but the io.Writer given to WriteWAV, no
// goroutines, no package-level mutable state (the G.711 tables are computed on first use
// by a sync.OnceValue and only read after). Values are safe for use by one goroutine at a time; the decoders keep per-stream state.
//
// Bounds: a playout never grows past MaxDuration of audio (10 minutes); packets that
// would land beyond it are dropped and counted (the Stats Playout returns). Bad input never panics:
// any byte is a valid G.711 or G.722 code word, and the playout checks every offset.
package audio
