// Command hepload is the load generator of scripts/bench-hep.sh: it sends complete SIP
// calls (package internal/hepload) as HEPv3 over UDP, stamped with the time of sending,
// at a fixed message rate, and prints what it sent as one JSON line. Calls start at an
// even pace; each call's messages follow its INVITE at fixed offsets (a 1 s call), so
// the message rate is steady once the first calls end.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/callscope/callscope/internal/hepload"
)

type result struct {
	Calls      uint64  `json:"calls"`
	Messages   uint64  `json:"messages"`
	Bytes      uint64  `json:"sip_bytes"`
	SendErrors uint64  `json:"send_errors"`
	Seconds    float64 `json:"seconds"`
	Rate       float64 `json:"messages_per_s"`
}

func main() {
	to := flag.String("to", "127.0.0.1:9060", "HEP collector address (UDP)")
	rate := flag.Float64("rate", 70000, "SIP messages per second (calls start at rate/7 per second)")
	calls := flag.Uint64("calls", 100000, "calls to send")
	seed := flag.Uint64("seed", uint64(time.Now().Unix()&0xffffff), "distinguishes the Call-IDs of one run from another's")
	flag.Parse()
	c, err := net.Dial("udp", *to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hepload:", err)
		os.Exit(1)
	}
	g := hepload.New(*seed)
	callRate := *rate / float64(hepload.Messages)
	var res result
	var next [hepload.Messages]uint64 // per message of the flow, the next call to send it
	buf := make([]byte, 0, 2048)
	start := time.Now()
	for next[hepload.Messages-1] < *calls {
		now := time.Since(start)
		for j := range next {
			// Calls whose message j is due: call k starts at k/callRate.
			due := uint64(0)
			if d := now - hepload.Offset(j); d >= 0 {
				due = min(uint64(d.Seconds()*callRate)+1, *calls)
			}
			for ; next[j] < due; next[j]++ {
				var n int
				buf, n = g.Append(buf[:0], next[j], j, time.Now())
				if _, err := c.Write(buf); err != nil {
					res.SendErrors++
					continue
				}
				res.Messages++
				res.Bytes += uint64(n)
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	res.Calls = *calls
	res.Seconds = time.Since(start).Seconds()
	res.Rate = float64(res.Messages) / res.Seconds
	_ = json.NewEncoder(os.Stdout).Encode(res)
}
