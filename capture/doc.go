// Package capture reads and writes offline capture files: classic pcap and
// pcapng, optionally gzip-compressed, one at a time (FileReader) or several
// merged into one timestamp-ordered stream (Merger). It also captures live
// on network interfaces (Live, live.go: AF_PACKET with a TPACKET_V3 ring) and
// receives HEP from capture agents over UDP and TCP (HEPListener, hep.go).
// It is the first stage of the callscope pipeline: it
// yields link-layer frames (or HEP packets) with their timestamps, and knows
// nothing about the protocols inside them beyond HEP's framing.
//
// # Formats
//
// Classic pcap (the libpcap file format, draft-ietf-opsawg-pcap §4-§5):
// magic 0xa1b2c3d4 (microsecond timestamps) and 0xa1b23c4d (nanosecond
// timestamps) in either byte order. The upper bits of the link-type field
// may carry FCS information (§4, "LinkType and additional information") and
// are masked off with 0x0FFFFFFF.
//
// pcapng (draft-ietf-opsawg-pcapng): Section Header Blocks (§4.1) in either
// byte order, several sections per file; Interface Description Blocks (§4.2)
// with if_tsresol (decimal and power-of-two forms) and if_tsoffset
// (§4.2, options 9 and 14); Enhanced Packet Blocks (§4.3), Simple Packet
// Blocks (§4.4, which carry no timestamp: they inherit the previous one)
// and the obsolete Packet Block (Appendix A). Every other block (Name
// Resolution, Interface Statistics, Decryption Secrets, custom, unknown) is
// skipped by its length. Block lengths are checked (multiple of 4, at least
// 12, trailing copy equal to the leading one, §3.1).
//
// Timestamps are converted to Unix nanoseconds with integer arithmetic only;
// power-of-two resolutions are scaled with a 128-bit product, so no float
// rounding is involved. Link types 12 and 14 (DLT_RAW on some BSDs, written
// verbatim by old tools) are reported as LinkRaw.
//
// # Why our own reader
//
// gopacket/pcapgo reads both formats, but it copies (or hides a zero-copy
// view behind an interface that allocates CaptureInfo per call), reports
// errors without the byte offset of the damaged record, and stops at the
// first oddity. A passive monitor replaying multi-gigabyte captures needs
// ~2M packets/s with zero allocations per packet, the exact offset of damage
// for the operator, and leniency (skip unknown blocks, keep everything before
// the damage). pcapgo is used in the tests as an independent writer and
// reader oracle, and tshark as a second one.
//
// # Buffers and lifetimes
//
// Each FileReader owns one 1 MiB bufio.Reader (smaller for an in-memory
// input that is itself smaller, such as a bytes.Reader; a second one
// follows the gzip decompressor). Packet.Data is a view into
// that buffer and is valid only until the next call to Next on the same
// reader (for a Merger: until the next call to Merger.Next). Callers that
// keep bytes past that point must copy them. Packet blocks larger than the
// buffer are rejected as corrupt (pcap records are capped at 256 KiB of
// captured data, pcapng packet blocks at 1 MiB), which is what makes the
// view possible without a second copy. Records are read from the buffer's
// window of buffered bytes directly, calling into bufio only when a record
// runs past it (FileReader.peek): two bufio calls per record cost more
// instructions than the rest of reading it.
//
// The live sources hand out buffers the consumer gives back: a HEPPacket's Data
// and a Batch's Frames are the consumer's until it calls Release, and may be
// reused after that.
//
// # Errors
//
// Damage is reported as a *FileError carrying the file name and the byte
// offset of the damaged record or block (in the decompressed stream for
// gzip input). It wraps ErrTruncated (the file ends inside a record) or
// ErrCorrupt (a length or magic that cannot be right), so errors.Is works.
// Errors are sticky: once a FileReader has failed it keeps returning the
// same error. Every packet before the damage is returned first. A clean end
// of file is io.EOF. A Merger never returns damage from Next: a damaged file
// simply stops, the others continue, and the damage is listed by Errors.
//
// # Concurrency
//
// A FileReader, Merger, PcapWriter or PcapngWriter is used by one goroutine at
// a time and starts none.
//
// The live sources start goroutines, and the source owns them: ListenHEP
// starts one goroutine reading UDP, one accepting TCP and one per TCP
// connection (at most HEPConfig.MaxConns); OpenLive starts one reader per
// interface (which also reads the kernel's drop counter once a second). Each
// source hands what it reads to one consumer through a bounded channel
// (Packets: HEPConfig.Queue packets; Batches: LiveConfig.Queue batches). The
// readers never wait for the consumer: what the channel cannot take is dropped
// and counted (HEPStats.QueueDrops, LiveStats.QueueDrops), as the kernel
// counts what its ring could not take (LiveStats.KernelDrops).
//
// Close is the stop path: it tells the goroutines to stop (the HEP sockets
// are closed under them; a live reader sees it within its 100 ms poll
// timeout), waits until every goroutine of the source has returned, releases
// the sockets, then closes the channel, so a consumer reading it sees the end. Close is idempotent; whoever opened the source calls it
// (callscope serve closes its sources when its context ends). Stats may be
// called from any goroutine.
//
// The package holds no mutable globals; its metrics (Metrics) are registered
// on the prometheus.Registerer given to NewMetrics.
package capture
