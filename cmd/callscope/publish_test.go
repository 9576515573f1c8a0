package main

import (
	"reflect"
	"testing"

	"github.com/callscope/callscope/correlate"
)

// TestAddCountersEveryField: the files and live correlators' counters are summed field
// by field; each field of the sum must be the sum of the two inputs (here 1 + 2), so a
// field of a kind addCounters skips (RetainedBytes, an int64, was dropped and read 0 in
// /metrics) fails here.
func TestAddCountersEveryField(t *testing.T) {
	var a, b correlate.Counters
	va, vb := reflect.ValueOf(&a).Elem(), reflect.ValueOf(&b).Elem()
	for i := 0; i < va.NumField(); i++ {
		switch va.Field(i).Kind() {
		case reflect.Uint64, reflect.Uint32, reflect.Uint:
			va.Field(i).SetUint(1)
			vb.Field(i).SetUint(2)
		case reflect.Int, reflect.Int64, reflect.Int32:
			va.Field(i).SetInt(1)
			vb.Field(i).SetInt(2)
		default:
			t.Errorf("Counters.%s is a %s: addCounters cannot sum it", va.Type().Field(i).Name, va.Field(i).Kind())
		}
	}
	sum := reflect.ValueOf(addCounters(a, b))
	for i := 0; i < sum.NumField(); i++ {
		f := sum.Field(i)
		var got int64
		if f.CanUint() {
			got = int64(f.Uint())
		} else if f.CanInt() {
			got = f.Int()
		}
		if got != 3 {
			t.Errorf("addCounters: %s = %d, want 1 + 2 = 3", sum.Type().Field(i).Name, got)
		}
	}
}
