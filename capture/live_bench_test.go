//go:build linux

package capture

import (
	"encoding/binary"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gopacket/gopacket/afpacket"
)

// BenchmarkLiveCapture measures capture.Live on a veth pair: one goroutine injects b.N
// Ethernet/IPv4/UDP RTP-sized frames (214 bytes) into one end with an AF_PACKET socket,
// Live captures the other end, and the consumer takes the batches (no decoding: this is
// the capture stage alone). It reports received packets per second and what was lost at
// the kernel ring and the queue. Needs root; run with -benchtime=200000x or so.
func BenchmarkLiveCapture(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (veth pair, AF_PACKET)")
	}
	const a, z = "csbenchA", "csbenchZ"
	_ = exec.Command("ip", "link", "del", a).Run()
	for _, args := range [][]string{{"link", "add", a, "type", "veth", "peer", "name", z}, {"link", "set", a, "up"}, {"link", "set", z, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	defer exec.Command("ip", "link", "del", a).Run()
	time.Sleep(200 * time.Millisecond)

	frame := make([]byte, 214)
	copy(frame[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(frame[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(frame)-14))
	copy(ip[12:16], []byte{10, 0, 0, 1})
	copy(ip[16:20], []byte{10, 0, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 6000)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	udp[8] = 0x80 // RTP v2

	live, err := OpenLive([]string{z}, LiveConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer live.Close()
	tx, err := afpacket.NewTPacket(afpacket.OptInterface(a))
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	time.Sleep(100 * time.Millisecond)

	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i++ {
			binary.BigEndian.PutUint16(udp[10:], uint16(i)) // RTP sequence number
			for tx.WritePacketData(frame) != nil {
				time.Sleep(time.Microsecond) // the transmit queue is full: wait, do not lose the frame here
			}
		}
	}()
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
