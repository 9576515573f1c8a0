//go:build linux

package capture

import (
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket/afpacket"
)

// BenchmarkLiveCapture measures capture.Live on a veth pair: one goroutine injects b.N
// Ethernet/IPv4/UDP RTP-sized frames (214 bytes) into one end with an AF_PACKET socket,
// Live captures the other end, and the consumer takes the batches (no decoding: this is
// the capture stage alone). It reports received packets per second and what was lost at
// the kernel ring and the queue. Needs root; run with -benchtime=200000x or so. The
// frames go to 64 UDP ports in turn (64 flows), so fanout=2 spreads them over two rings.
// injectors=2 sends from two goroutines with a socket each (half of b.N each), for when
// one injector, not the capture, is the limit.
func BenchmarkLiveCapture(b *testing.B) {
	for _, inj := range []int{1, 2} {
		for _, fanout := range []int{1, 2} {
			b.Run("fanout="+strconv.Itoa(fanout)+"/injectors="+strconv.Itoa(inj), func(b *testing.B) { benchLiveCapture(b, fanout, inj) })
		}
	}
}

// benchFrameLen is the injected frames' length: an Ethernet/IPv4/UDP G.711 RTP packet.
const benchFrameLen = 214

func benchLiveCapture(b *testing.B, fanout, injectors int) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (veth pair, AF_PACKET)")
	}
	const a, z = "csbenchA", "csbenchZ"
	vethPair(b, "ip", a, z)
	live, err := OpenLive([]string{z}, LiveConfig{Fanout: fanout})
	if err != nil {
		b.Fatal(err)
	}
	defer live.Close()
	txs := make([]*afpacket.TPacket, injectors)
	for j := range txs {
		tx, err := afpacket.NewTPacket(afpacket.OptInterface(a))
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Close()
		txs[j] = tx
	}
	time.Sleep(100 * time.Millisecond)

	b.ReportAllocs()
	b.SetBytes(benchFrameLen)
	b.ResetTimer()
	start := time.Now()
	for j, tx := range txs {
		// Injector j sends frames j, j+injectors, ...: its own frame buffer, the same
		// 64 ports in turn.
		go func() {
			frame := udpFrame(6000, 0, benchFrameLen)
			seq, dport := frame[42:44], frame[36:38]
			for i := j; i < b.N; i += injectors {
				binary.BigEndian.PutUint16(seq, uint16(i))
				binary.BigEndian.PutUint16(dport, uint16(6000+i%64))
				for tx.WritePacketData(frame) != nil {
					time.Sleep(time.Microsecond) // the transmit queue is full: wait, do not lose the frame here
				}
			}
		}()
	}
	got := 0
	deadline := time.After(30*time.Second + time.Duration(b.N)*time.Microsecond)
	for got < b.N {
		select {
		case bt := <-live.Batches():
			got += len(bt.Frames)
			live.Release(bt)
		case <-deadline:
			st := live.Stats()
			if uint64(got)+st.KernelDrops+st.QueueDrops < uint64(b.N) {
				b.Logf("received %d of %d, kernel drops %d, queue drops %d", got, b.N, st.KernelDrops, st.QueueDrops)
			}
			goto done
		}
	}
done:
	el := time.Since(start)
	b.StopTimer()
	st := live.Stats()
	b.ReportMetric(float64(got)/el.Seconds(), "pkts/s")
	b.ReportMetric(float64(st.KernelDrops), "kernel-drops")
	b.ReportMetric(float64(st.QueueDrops), "queue-drops")
}
