package security

import "testing"

// TestClaimSlotGrowsToMax: a table filled to its cap has exactly cap entries' room, for
// caps append alone would overshoot (its 1.25× past half the cap), and every key gets
// its own slot until the cap, then slots are reused round robin from the first.
func TestClaimSlotGrowsToMax(t *testing.T) {
	for _, max := range []int{1, 3, 1000, 16384, 20000} {
		var vals []int
		idx := map[int]int32{}
		var next int32
		for k := range max {
			i, evicted := claimSlot(&vals, idx, &next, max, func(v *int) int { return *v })
			if evicted || int(i) != k {
				t.Fatalf("max %d: key %d got slot %d (evicted %v)", max, k, i, evicted)
			}
			vals[i], idx[k] = k, i
		}
		if cap(vals) != max || len(vals) != max {
			t.Errorf("max %d: len %d cap %d after filling", max, len(vals), cap(vals))
		}
		i, evicted := claimSlot(&vals, idx, &next, max, func(v *int) int { return *v })
		if !evicted || i != 0 {
			t.Errorf("max %d: the key after the cap got slot %d (evicted %v), want 0 reused", max, i, evicted)
		}
		if _, ok := idx[0]; ok {
			t.Errorf("max %d: the evicted key 0 is still indexed", max)
		}
	}
}
