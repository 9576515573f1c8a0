package correlate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"unsafe"
)

// TestStateSizes guards the per-call and per-stream state against growing into the next
// allocator size class unnoticed: at 20,000 concurrent calls (40,000 streams) a class up
// is 1.3 MB (calls) and 1.3 MB (streams) of analyze's 100 MiB (issue 16). The limits are
// Go's size classes the structs sit in today; a field that needs more room must say so
// here, in BENCHMARKS.md terms.
func TestStateSizes(t *testing.T) {
	for _, c := range []struct {
		name       string
		size, want uintptr
	}{
		{"call", unsafe.Sizeof(call{}), 640},
		{"lifecycle", unsafe.Sizeof(lifecycle{}), 128},
		{"stream", unsafe.Sizeof(stream{}), 416},
		{"mediaKey", unsafe.Sizeof(mediaKey{}), 20},
	} {
		if c.size > c.want {
			t.Errorf("%s is %d bytes, over the %d it was sized to", c.name, c.size, c.want)
		}
	}
}

// TestMediaKey: the index key keeps apart what netip.AddrPort keeps apart, for the
// addresses media comes from (no zones): family, address and port.
func TestMediaKey(t *testing.T) {
	addrs := []string{"10.0.0.1:4000", "10.0.0.1:4001", "10.0.0.2:4000", "[::ffff:10.0.0.1]:4000", "[2001:db8::1]:4000", "[2001:db8::1]:4001", "[::]:4000", "0.0.0.0:4000"}
	for _, a := range addrs {
		for _, b := range addrs {
			pa, pb := netip.MustParseAddrPort(a), netip.MustParseAddrPort(b)
			if (mkey(pa) == mkey(pb)) != (pa == pb) {
				t.Errorf("%s vs %s: keys equal %v, addresses equal %v", a, b, mkey(pa) == mkey(pb), pa == pb)
			}
		}
	}
}

// TestInternUA: calls that send the same User-Agent share one string; values over
// maxInternedUALen and new values once maxInternedUAs are held are still kept per call,
// equal to what was sent, and the table stops at its cap.
func TestInternUA(t *testing.T) {
	c := New(DefaultConfig(), Output{})
	a, b := c.internUA([]byte("PBX 1.0")), c.internUA([]byte("PBX 1.0"))
	if a != "PBX 1.0" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("the same User-Agent twice: %q and %q, shared %v", a, b, unsafe.StringData(a) == unsafe.StringData(b))
	}
	long := strings.Repeat("x", maxInternedUALen+1)
	if l1, l2 := c.internUA([]byte(long)), c.internUA([]byte(long)); l1 != long || unsafe.StringData(l1) == unsafe.StringData(l2) {
		t.Errorf("a %d-byte value was interned (or changed)", len(long))
	}
	for i := range 2 * maxInternedUAs {
		ua := fmt.Sprintf("ua-%d", i)
		if got := c.internUA([]byte(ua)); got != ua {
			t.Fatalf("internUA(%q) = %q", ua, got)
		}
	}
	if len(c.uas) != maxInternedUAs {
		t.Errorf("%d values held, want the cap %d", len(c.uas), maxInternedUAs)
	}
}
