package security

import (
	"slices"
	"testing"
)

// TestDistinctSet checks the inline-then-array set against a plain list: the same
// answers from add, the same values in order, the cap at MaxDistinct, and a reset that
// forgets everything (also after the array was allocated).
func TestDistinctSet(t *testing.T) {
	var s distinctSet
	for round := 0; round < 2; round++ {
		var want []uint32
		for i := 0; i < 3*MaxDistinct; i++ {
			h := uint32(i % (MaxDistinct + 10)) // repeats after MaxDistinct+10 values
			if i%3 == 1 {
				h = uint32(i - 1) // the previous value again
			}
			isNew := !slices.Contains(want, h)
			if got := s.add(h); got != isNew {
				t.Fatalf("round %d: add(%d) = %v, want %v", round, h, got, isNew)
			}
			if isNew && len(want) < MaxDistinct {
				want = append(want, h)
			}
		}
		if !slices.Equal(s.values(), want) || s.len() != MaxDistinct {
			t.Fatalf("round %d: values %v (len %d), want %v", round, s.values(), s.len(), want)
		}
		s.reset()
		if s.len() != 0 || len(s.values()) != 0 {
			t.Fatalf("reset left %v", s.values())
		}
	}
	var small distinctSet
	for _, h := range []uint32{7, 7, 8} {
		small.add(h)
	}
	if small.big != nil || !slices.Equal(small.values(), []uint32{7, 8}) {
		t.Fatalf("two values: big allocated %v, values %v", small.big != nil, small.values())
	}
}
