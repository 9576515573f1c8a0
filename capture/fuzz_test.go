package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// fuzzRead reads a whole file from data and checks the invariants every
// input must keep: no panic, an end that is io.EOF or a *FileError wrapping
// ErrTruncated/ErrCorrupt, views inside the input, offsets increasing.
func fuzzRead(t *testing.T, data []byte) {
	r, err := NewFileReader(bytes.NewReader(data), "fuzz")
	if err != nil {
		checkDamage(t, err)
		return
	}
	defer r.Close()
	gz := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
	var p Packet
	last := int64(-1)
	for n := 0; ; n++ {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			checkDamage(t, err)
			if err2 := r.Next(&p); err2 != err {
				t.Fatalf("error not sticky: %v then %v", err, err2)
			}
			return
		}
		if p.Offset <= last {
			t.Fatalf("packet %d: offset %d not after %d", n, p.Offset, last)
		}
		last = p.Offset
		if !gz {
			if p.Offset+int64(len(p.Data)) > int64(len(data)) {
				t.Fatalf("packet %d: %d bytes at %d run past the %d-byte input", n, len(p.Data), p.Offset, len(data))
			}
			if n > len(data)/12 {
				t.Fatalf("%d packets from %d bytes", n, len(data))
			}
		}
		if cap(p.Data) != len(p.Data) {
			t.Fatal("Data has spare capacity")
		}
	}
}

func checkDamage(t *testing.T, err error) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != "fuzz" || fe.Offset < 0 {
		t.Fatalf("error %v (%T) is not a *FileError", err, err)
	}
	if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v wraps neither ErrTruncated nor ErrCorrupt", err)
	}
	_ = err.Error()
}

func FuzzPcap(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzPcap (cut from real captures).
	f.Add(newPcapBuilder(binary.BigEndian, true, 113).rec(1, 2, []byte("abcd"), 9).b)
	f.Add(newPcapBuilder(binary.LittleEndian, false, 0x10000001).rec(1, 999999, nil, 0).rec(2, 0, []byte{1}, 1).b)
	f.Fuzz(fuzzRead)
}

func FuzzPcapng(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzPcapng (cut from real captures).
	g := &ngBuilder{o: binary.BigEndian}
	g.shb().idb(1, 0, g.opt(9, []byte{0x80 | 20}), g.opt(14, []byte{0, 0, 0, 0, 0, 0, 0, 5}))
	g.epb(0, 1<<20, []byte("x"), 1).spb(4, []byte("abcd")).opb(0, 7, []byte("yy"), 2).block(4, []byte{0, 0, 0, 0})
	f.Add(bytes.Clone(g.b))
	l := &ngBuilder{o: binary.LittleEndian}
	l.shb().idb(101, 64).epb(0, 5, []byte("hello"), 5)
	f.Add(append(bytes.Clone(l.b), g.b...))
	f.Fuzz(fuzzRead)
}
