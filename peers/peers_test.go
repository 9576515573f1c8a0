package peers

import "testing"

func TestClassify(t *testing.T) {
	c, err := New([]Group{
		{Name: "carrier-a", CIDRs: []string{"192.0.2.0/24", "2001:db8:a::/48"}},
		{Name: "carrier-b", CIDRs: []string{"198.51.100.0/24"}},
		{Name: "carrier-b-core", CIDRs: []string{"198.51.100.7"}}, // longer prefix wins
	})
	if err != nil {
		t.Fatal(err)
	}
	// Expectations follow the rule in the package doc, worked by hand per row.
	for _, tc := range []struct {
		name, caller, callee, want string
	}{
		{"incoming from a", "192.0.2.10:5060", "10.0.0.1:5060", "carrier-a"},
		{"outgoing to b", "10.0.0.1:5060", "198.51.100.9:5060", "carrier-b"},
		{"longest prefix", "10.0.0.1:5060", "198.51.100.7:5060", "carrier-b-core"},
		{"caller wins when both match", "198.51.100.9:5060", "192.0.2.1:5060", "carrier-b"},
		{"v6", "[2001:db8:a::5]:5060", "10.0.0.1:5060", "carrier-a"},
		{"v4-mapped v6", "[::ffff:192.0.2.3]:5060", "", "carrier-a"},
		{"bare address", "10.0.0.1", "192.0.2.200", "carrier-a"},
		{"neither", "10.0.0.1:5060", "10.0.0.2:5060", Other},
		{"garbage", "not an address", "", Other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Classify(tc.caller, tc.callee); got != tc.want {
				t.Errorf("Classify(%q, %q) = %q, want %q", tc.caller, tc.callee, got, tc.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		groups []Group
	}{
		{"empty name", []Group{{Name: "", CIDRs: []string{"192.0.2.0/24"}}}},
		{"reserved", []Group{{Name: "other", CIDRs: []string{"192.0.2.0/24"}}}},
		{"duplicate", []Group{{Name: "a", CIDRs: []string{"192.0.2.0/24"}}, {Name: "a", CIDRs: []string{"192.0.3.0/24"}}}},
		{"bad cidr", []Group{{Name: "a", CIDRs: []string{"192.0.2.0/33"}}}},
		{"no cidrs", []Group{{Name: "a"}}},
		{"label-unsafe name", []Group{{Name: "a b", CIDRs: []string{"192.0.2.0/24"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.groups); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestNilClassifier(t *testing.T) {
	var c *Classifier
	if got := c.Classify("192.0.2.1:5060", ""); got != Other {
		t.Errorf("got %q", got)
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	c, _ := New([]Group{{Name: "a", CIDRs: []string{"192.0.2.0/24"}}})
	if n := testing.AllocsPerRun(100, func() { c.Classify("10.0.0.1:5060", "192.0.2.9:5060") }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
