package correlate

import (
	"net/netip"
	"testing"
	"unsafe"
)

// TestStreamSize guards the per-stream memory target (512 B with table overhead,
// BenchmarkMemory100k): the stream struct must stay in the 416-byte size class.
func TestStreamSize(t *testing.T) {
	if n := unsafe.Sizeof(stream{}); n > 416 {
		t.Fatalf("stream is %d bytes, over the 416-byte size class", n)
	}
}

func TestStreamKeyRoundTrip(t *testing.T) {
	cases := []struct{ src, dst netip.AddrPort }{
		{netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("192.0.2.7:65535")},
		{netip.MustParseAddrPort("[2001:db8::1]:5004"), netip.MustParseAddrPort("[::ffff:10.0.0.1]:6000")},
		{netip.AddrPort{}, netip.MustParseAddrPort("0.0.0.0:0")},
	}
	for _, c := range cases {
		k := makeStreamKey(0xDEADBEEF, c.src, c.dst)
		if k.ssrc != 0xDEADBEEF || k.src() != c.src || k.dst() != c.dst {
			t.Errorf("%v→%v came back as %08x %v→%v", c.src, c.dst, k.ssrc, k.src(), k.dst())
		}
	}
	// A v4 address and its v4-mapped v6 form are different flows, as in netip.
	a := makeStreamKey(1, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"))
	b := makeStreamKey(1, netip.MustParseAddrPort("[::ffff:10.0.0.1]:1"), netip.MustParseAddrPort("10.0.0.2:2"))
	if a == b || a.sameFlow(&b) {
		t.Error("v4 and v4-mapped v6 keys are equal")
	}
	c := makeStreamKey(2, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"))
	if !a.sameFlow(&c) || a == c {
		t.Error("same flow, other SSRC: sameFlow false or keys equal")
	}
}

// TestStreamTableCollisions runs the table with every key hashing alike, so each
// operation walks one run of probed slots and deletion shifts the run back: from its
// head, middle and tail.
func TestStreamTableCollisions(t *testing.T) {
	for _, mask := range []uint64{^uint64(0), 0} {
		tab := newStreamTable()
		tab.mask = mask
		var all []*stream
		for i := 0; i < 6; i++ {
			s := &stream{key: makeStreamKey(uint32(i), netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("10.0.0.2:4000"))}
			tab.add(s)
			all = append(all, s)
		}
		check := func(want ...int) {
			t.Helper()
			if tab.len() != len(want) {
				t.Fatalf("mask %x: len %d, want %d", mask, tab.len(), len(want))
			}
			in := map[*stream]bool{}
			tab.each(func(s *stream) { in[s] = true })
			for _, i := range want {
				if got := tab.get(&all[i].key); got != all[i] || !in[all[i]] {
					t.Fatalf("mask %x: stream %d not found (get %p, each %v)", mask, i, got, in[all[i]])
				}
				delete(in, all[i])
			}
			if len(in) != 0 {
				t.Fatalf("mask %x: each visited %d removed streams", mask, len(in))
			}
		}
		check(0, 1, 2, 3, 4, 5)
		tab.del(all[5]) // the run's tail (added last)
		check(0, 1, 2, 3, 4)
		tab.del(all[2]) // the middle
		check(0, 1, 3, 4)
		tab.del(all[0]) // the head
		check(1, 3, 4)
		tab.del(all[0]) // not in the table: no change
		check(1, 3, 4)
		tab.each(func(s *stream) { // deleting the visited stream while iterating
			if s == all[3] || s == all[1] {
				tab.del(s)
			}
		})
		check(4)
		if k := makeStreamKey(9, netip.AddrPort{}, netip.AddrPort{}); tab.get(&k) != nil {
			t.Fatal("unknown key found")
		}
		tab.del(all[4])
		check()
		if n := tab.occupied(); n != 0 {
			t.Fatalf("mask %x: %d slots still occupied", mask, n)
		}
	}
}

// BenchmarkStreamLookup is the per-packet table cost: building the key and finding the
// stream among 1,000.
func BenchmarkStreamLookup(b *testing.B) {
	tab := newStreamTable()
	var srcs, dsts []netip.AddrPort
	for i := 0; i < 1000; i++ {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 4000)
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)}), 6000)
		srcs, dsts = append(srcs, src), append(dsts, dst)
		tab.add(&stream{key: makeStreamKey(uint32(i), src, dst)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := i % 1000
		var k streamKey
		k.set(uint32(n), srcs[n], dsts[n])
		if tab.get(&k) == nil {
			b.Fatal("not found")
		}
	}
}

// TestStreamTableRandom checks the table against a Go map through random adds, deletes,
// growth and deleting walks, with hashes masked to a few bits so that runs of probed
// slots are long and wrap around the end of the slot array (the map is the reference).
func TestStreamTableRandom(t *testing.T) {
	for _, mask := range []uint64{^uint64(0), 0xf, 0x3f | 1<<63} {
		tab := newStreamTable()
		tab.mask = mask
		ref := map[uint32]*stream{}
		rng := uint32(1)
		next := func() uint32 { rng = rng*1664525 + 1013904223; return rng >> 8 }
		src, dst := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("10.0.0.2:4000")
		for step := 0; step < 20000; step++ {
			ssrc := next() % 300
			switch op := next() % 10; {
			case op < 6:
				if ref[ssrc] == nil {
					s := &stream{key: makeStreamKey(ssrc, src, dst)}
					tab.add(s)
					ref[ssrc] = s
				}
			case op < 9:
				if s := ref[ssrc]; s != nil {
					tab.del(s)
					delete(ref, ssrc)
				}
			default: // a walk that deletes every third stream it visits
				seen := map[*stream]bool{}
				tab.each(func(s *stream) {
					if seen[s] {
						t.Fatalf("mask %x step %d: stream %d visited twice", mask, step, s.key.ssrc)
					}
					seen[s] = true
					if s.key.ssrc%3 == 0 {
						tab.del(s)
						delete(ref, s.key.ssrc)
					}
				})
				for _, s := range ref {
					if !seen[s] && s.key.ssrc%3 != 0 {
						t.Fatalf("mask %x step %d: stream %d not visited", mask, step, s.key.ssrc)
					}
				}
			}
			if tab.len() != len(ref) || tab.occupied() != len(ref) {
				t.Fatalf("mask %x step %d: len %d, occupied %d, want %d", mask, step, tab.len(), tab.occupied(), len(ref))
			}
			k := makeStreamKey(ssrc, src, dst)
			if got := tab.get(&k); got != ref[ssrc] {
				t.Fatalf("mask %x step %d: get(%d) = %p, want %p", mask, step, ssrc, got, ref[ssrc])
			}
		}
	}
}

// TestStreamHasher: a StreamHasher taken from a Correlator hashes every key as the
// Correlator's own table does (IPv4, IPv6, a zone, the zero address), also after the
// table grew past its first size.
func TestStreamHasher(t *testing.T) {
	c := New(DefaultConfig(), Output{})
	hs := c.StreamHasher()
	addrs := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("[2001:db8::7]:5004"),
		netip.MustParseAddrPort("[fe80::1%eth0]:6000"), {},
	}
	for i := range 5000 {
		src, dst := addrs[i%len(addrs)], addrs[(i/len(addrs))%len(addrs)]
		k := makeStreamKey(uint32(i*2654435761), src, dst)
		if i%3 == 0 {
			c.streams.add(&stream{key: k})
		}
		if got, want := hs.Hash(k.ssrc, src, dst), c.streams.hash(&k); got != want {
			t.Fatalf("key %d (%v → %v): hasher %x, table %x", i, src, dst, got, want)
		}
	}
}
