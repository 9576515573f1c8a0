//go:build linux

package capture

import (
	"encoding/binary"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/testutil"
	"github.com/gopacket/gopacket/afpacket"
)

// udpFrame is an Ethernet/IPv4/UDP frame of size bytes (at least 54) to dport,
// carrying n in the first payload word (the RTP sequence number's place).
func udpFrame(dport uint16, n, size int) []byte {
	f := make([]byte, max(size, 14+20+8+12))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
	copy(ip[12:16], []byte{10, 0, 0, 1})
	copy(ip[16:20], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], 4000)
	binary.BigEndian.PutUint16(ip[22:], dport)
	binary.BigEndian.PutUint16(ip[24:], uint16(len(f)-34))
	binary.BigEndian.PutUint32(ip[28:], uint32(n))
	return f
}

// vethPair creates the veth pair a<->z, both up, removed at cleanup.
func vethPair(tb testing.TB, ipTool, a, z string) {
	tb.Helper()
	_ = exec.Command(ipTool, "link", "del", a).Run() // a leftover of a killed run
	for _, args := range [][]string{{"link", "add", a, "type", "veth", "peer", "name", z}, {"link", "set", a, "up"}, {"link", "set", z, "up"}} {
		if out, err := exec.Command(ipTool, args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	tb.Cleanup(func() { _ = exec.Command(ipTool, "link", "del", a).Run() })
	time.Sleep(200 * time.Millisecond)
}

// TestLiveFilter captures one end of a veth pair while frames to two UDP ports are
// injected at the other: with the filter "udp dst port 6000" (compiled by tcpdump, run
// in the kernel) exactly the 6000 ones arrive, in order, and the counters agree.
func TestLiveFilter(t *testing.T) {
	testutil.NeedTool(t, "tcpdump")
	ipTool := testutil.NeedTool(t, "ip")
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (veth pair, AF_PACKET)")
	}
	a, z := "cstestA", "cstestZ"
	vethPair(t, ipTool, a, z)

	live, err := OpenLive([]string{z}, LiveConfig{Filter: "udp dst port 6000"})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	tx, err := afpacket.NewTPacket(afpacket.OptInterface(a))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	time.Sleep(100 * time.Millisecond)
	const n = 200
	for i := 0; i < n; i++ {
		port := uint16(6000)
		if i%2 == 1 {
			port = 7000
		}
		if err := tx.WritePacketData(udpFrame(port, i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	deadline := time.After(10 * time.Second)
	for len(got) < n/2 {
		select {
		case b := <-live.Batches():
			if b.Iface != z || b.LinkType != LinkEthernet {
				t.Fatalf("batch from %s link %d", b.Iface, b.LinkType)
			}
			for _, f := range b.Frames {
				if port := binary.BigEndian.Uint16(f[36:]); port != 6000 {
					t.Fatalf("a frame to port %d passed the filter", port)
				}
				got = append(got, int(binary.BigEndian.Uint32(f[42:])))
			}
			live.Release(b)
		case <-deadline:
			t.Fatalf("%d of %d frames within 10 s (stats %+v)", len(got), n/2, live.Stats())
		}
	}
	for i, v := range got {
		if v != 2*i {
			t.Fatalf("frame %d carries %d, want %d", i, v, 2*i)
		}
	}
	time.Sleep(100 * time.Millisecond) // a stray frame to 7000 would show up by now
	if st := live.Stats(); st.Packets != n/2 || st.KernelDrops != 0 || st.QueueDrops != 0 {
		t.Fatalf("stats %+v, want %d packets and no drops", st, n/2)
	}
	if _, err := OpenLive([]string{z}, LiveConfig{Filter: "udp and and"}); err == nil {
		t.Fatal("a bad filter expression was accepted")
	}
}

func TestParseDDD(t *testing.T) {
	prog, err := parseDDD([]byte("3\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n"))
	if err != nil || len(prog) != 3 || prog[1].Op != 21 || prog[1].Jf != 1 || prog[1].K != 2048 || prog[2].K != 262144 {
		t.Fatalf("%+v %v", prog, err)
	}
	for _, bad := range []string{"", "2\n40 0 0 12\n", "1\n40 0 0\n", "1\n40 x 0 12\n", "1\n70000 0 0 1\n", "1\n40 300 0 1\n"} {
		if _, err := parseDDD([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestLiveFanout captures one end of a veth pair with two fanout readers while 32 UDP
// flows (ports 6000..6031, 20 frames each, interleaved) are injected at the other.
// Expected from the input and PACKET_FANOUT_HASH (one flow hashes to one ring): all 640
// frames arrive, none dropped; each flow's frames come from one reader and in the order
// sent; both readers get frames (32 distinct flows all on one of two rings would take a
// 2^-31 chance for the kernel's flow hash); per-reader counters sum to the total.
func TestLiveFanout(t *testing.T) {
	ipTool := testutil.NeedTool(t, "ip")
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (veth pair, AF_PACKET)")
	}
	a, z := "csfanA", "csfanZ"
	vethPair(t, ipTool, a, z)
	live, err := OpenLive([]string{z}, LiveConfig{Fanout: 2, RingMB: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	tx, err := afpacket.NewTPacket(afpacket.OptInterface(a))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	time.Sleep(100 * time.Millisecond)
	const flows, per = 32, 20
	for i := range per {
		for f := range flows {
			if err := tx.WritePacketData(udpFrame(uint16(6000+f), i, 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := map[uint16]int{}   // flow → next sequence expected
	worker := map[uint16]int{} // flow → the reader it came from
	perWorker := map[int]int{} // reader → frames
	deadline := time.After(10 * time.Second)
	all := map[int]int{} // reader → every frame delivered (a stray IPv6 frame of the link included)
	take := func(b *Batch) int {
		ours := 0
		for _, f := range b.Frames {
			all[b.Worker]++
			if len(f) < 46 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
				continue
			}
			ours++
		}
		return ours
	}
	for got := 0; got < flows*per; {
		select {
		case b := <-live.Batches():
			take(b)
			for _, f := range b.Frames {
				if len(f) < 46 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
					continue
				}
				port := binary.BigEndian.Uint16(f[36:])
				seq := int(binary.BigEndian.Uint32(f[42:]))
				if w, ok := worker[port]; ok && w != b.Worker {
					t.Fatalf("flow %d on readers %d and %d", port, w, b.Worker)
				}
				worker[port] = b.Worker
				if seq != next[port] {
					t.Fatalf("flow %d: frame %d, want %d", port, seq, next[port])
				}
				next[port]++
				perWorker[b.Worker]++
				got++
			}
			live.Release(b)
		case <-deadline:
			t.Fatalf("frames within 10 s: %v (stats %+v)", perWorker, live.WorkerStats())
		}
	}
	if len(perWorker) != 2 {
		t.Errorf("frames per reader %v: want both readers used", perWorker)
	}
	// The counters include frames still in a batch, and a stray frame of the link (IPv6
	// neighbour discovery) may arrive at any time: drain until the counters stop moving.
	var ws []WorkerStats
	for attempt := 0; attempt < 20; attempt++ {
		time.Sleep(300 * time.Millisecond)
		for drained := false; !drained; {
			select {
			case b := <-live.Batches():
				if take(b) != 0 {
					t.Errorf("more of our frames than were sent")
				}
				live.Release(b)
			default:
				drained = true
			}
		}
		ws = live.WorkerStats()
		settled := true
		for _, w := range ws {
			if uint64(all[w.Worker]) != w.Packets {
				settled = false
			}
		}
		if settled {
			break
		}
	}
	var sum LiveStats
	for _, w := range ws {
		if uint64(all[w.Worker]) != w.Packets {
			t.Errorf("reader %d counted %d, delivered %d", w.Worker, w.Packets, all[w.Worker])
		}
		sum.Packets += w.Packets
		sum.KernelDrops += w.KernelDrops
		sum.QueueDrops += w.QueueDrops
	}
	if st := live.Stats(); len(ws) != 2 || st.Packets < flows*per || st != (LiveStats{Packets: sum.Packets, Bytes: st.Bytes, KernelDrops: sum.KernelDrops, QueueDrops: sum.QueueDrops}) || st.KernelDrops+st.QueueDrops != 0 {
		t.Errorf("stats %+v, workers %+v", st, ws)
	}
}
