package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/callscope/callscope/internal/testutil"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sharedTestdata is the real-capture directory shared by the project,
// read in place (never copied into the repository).
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "testdata")
	if _, err := os.Stat(dir); err != nil {
		testutil.Missing(t, "shared testdata: "+err.Error())
	}
	return dir
}

// realCaptures lists the capture files in the shared testdata directory.
func realCaptures(t testing.TB) []string {
	dir := sharedTestdata(t)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.Contains(n, ".pcap") || strings.HasSuffix(n, ".cap") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatal("no captures in shared testdata")
	}
	return out
}

// rec is a copied Packet.
type rec struct {
	TS     int64
	Link   uint32
	Data   []byte
	Orig   int
	Iface  int
	File   int
	Offset int64
}

func recOf(p *Packet) rec {
	return rec{p.TS, p.LinkType, bytes.Clone(p.Data), p.OrigLen, p.Iface, p.File, p.Offset}
}

// readAll drains r, copying every packet. The returned error is nil at a
// clean io.EOF.
func readAll(t testing.TB, r Reader) ([]rec, error) {
	t.Helper()
	var out []rec
	var p Packet
	for i := 0; ; i++ {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, recOf(&p))
		if i > 10_000_000 {
			t.Fatal("reader does not end")
		}
	}
}

func readBytes(t testing.TB, b []byte) ([]rec, error) {
	t.Helper()
	r, err := NewFileReader(bytes.NewReader(b), "mem")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAll(t, r)
}

// wantFileError checks that err is a *FileError wrapping kind at offset.
func wantFileError(t testing.TB, err error, kind error, offset int64) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FileError", err, err)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q does not wrap %v", err, kind)
	}
	if fe.Offset != offset {
		t.Fatalf("error %q: offset %d, want %d", err, fe.Offset, offset)
	}
}

// ngBuilder assembles pcapng files by hand, block by block, in either byte
// order, following draft-ietf-opsawg-pcapng §3-§4 directly (independent of
// the writer under test).
type ngBuilder struct {
	o binary.AppendByteOrder
	b []byte
}

func (g *ngBuilder) block(typ uint32, body []byte) *ngBuilder {
	n := 12 + (len(body)+3)&^3
	g.b = g.o.AppendUint32(g.b, typ)
	g.b = g.o.AppendUint32(g.b, uint32(n))
	g.b = append(g.b, body...)
	for i := len(body); i%4 != 0; i++ {
		g.b = append(g.b, 0)
	}
	g.b = g.o.AppendUint32(g.b, uint32(n))
	return g
}

func (g *ngBuilder) opt(code uint16, val []byte) []byte {
	var b []byte
	b = g.o.AppendUint16(b, code)
	b = g.o.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (g *ngBuilder) shb() *ngBuilder {
	var b []byte
	b = g.o.AppendUint32(b, 0x1A2B3C4D)
	b = g.o.AppendUint16(b, 1)
	b = g.o.AppendUint16(b, 0)
	b = g.o.AppendUint64(b, ^uint64(0))
	return g.block(0x0A0D0D0A, b)
}

func (g *ngBuilder) idb(link uint16, snaplen uint32, opts ...[]byte) *ngBuilder {
	var b []byte
	b = g.o.AppendUint16(b, link)
	b = g.o.AppendUint16(b, 0)
	b = g.o.AppendUint32(b, snaplen)
	for _, o := range opts {
		b = append(b, o...)
	}
	if len(opts) > 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return g.block(1, b)
}

func (g *ngBuilder) epb(iface uint32, ts uint64, data []byte, orig uint32) *ngBuilder {
	var b []byte
	b = g.o.AppendUint32(b, iface)
	b = g.o.AppendUint32(b, uint32(ts>>32))
	b = g.o.AppendUint32(b, uint32(ts))
	b = g.o.AppendUint32(b, uint32(len(data)))
	b = g.o.AppendUint32(b, orig)
	b = append(b, data...)
	return g.block(6, b)
}

func (g *ngBuilder) opb(iface uint16, ts uint64, data []byte, orig uint32) *ngBuilder {
	var b []byte
	b = g.o.AppendUint16(b, iface)
	b = g.o.AppendUint16(b, 0) // drops
	b = g.o.AppendUint32(b, uint32(ts>>32))
	b = g.o.AppendUint32(b, uint32(ts))
	b = g.o.AppendUint32(b, uint32(len(data)))
	b = g.o.AppendUint32(b, orig)
	b = append(b, data...)
	return g.block(2, b)
}

func (g *ngBuilder) spb(orig uint32, data []byte) *ngBuilder {
	var b []byte
	b = g.o.AppendUint32(b, orig)
	b = append(b, data...)
	return g.block(3, b)
}

// pcapBuilder assembles classic pcap files by hand in either byte order.
type pcapBuilder struct {
	o binary.AppendByteOrder
	b []byte
}

func newPcapBuilder(o binary.AppendByteOrder, nanos bool, link uint32) *pcapBuilder {
	p := &pcapBuilder{o: o}
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	p.b = o.AppendUint32(p.b, magic)
	p.b = o.AppendUint16(p.b, 2)
	p.b = o.AppendUint16(p.b, 4)
	p.b = o.AppendUint32(p.b, 0)
	p.b = o.AppendUint32(p.b, 0)
	p.b = o.AppendUint32(p.b, 65535)
	p.b = o.AppendUint32(p.b, link)
	return p
}

func (p *pcapBuilder) rec(sec, frac uint32, data []byte, orig uint32) *pcapBuilder {
	p.b = p.o.AppendUint32(p.b, sec)
	p.b = p.o.AppendUint32(p.b, frac)
	p.b = p.o.AppendUint32(p.b, uint32(len(data)))
	p.b = p.o.AppendUint32(p.b, orig)
	p.b = append(p.b, data...)
	return p
}
