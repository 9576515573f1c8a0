package capture

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// CompileFilter turns a tcpdump filter expression into the classic BPF program for
// the link type of iface, by running `tcpdump -ddd -i IFACE EXPR`. We do not link
// libpcap (live capture is AF_PACKET, design.md), and tcpdump is what a probe host has
// to hand; without it the error says so. The program runs in the kernel: frames it
// rejects never reach the ring.
func CompileFilter(iface, expr string) ([]bpf.RawInstruction, error) {
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, fmt.Errorf("capture filter %q: compiling it needs tcpdump: %w", expr, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, "-ddd", "-i", iface, expr)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("capture filter %q on %s: %v: %s", expr, iface, err, strings.TrimSpace(stderr.String()))
	}
	return parseDDD(out)
}

// maxBPFInstructions is the kernel's BPF_MAXINSNS for classic socket filters.
const maxBPFInstructions = 4096

// parseDDD reads tcpdump -ddd output: the instruction count, then one "code jt jf k"
// line per instruction, all decimal.
func parseDDD(b []byte) ([]bpf.RawInstruction, error) {
	var nums []uint64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("tcpdump -ddd output: %q is not a number", f)
		}
		nums = append(nums, v)
	}
	if len(nums) == 0 || uint64(len(nums)-1) != 4*nums[0] || nums[0] == 0 || nums[0] > maxBPFInstructions {
		return nil, fmt.Errorf("tcpdump -ddd output: %d numbers for %v instructions", len(nums), nums[:min(1, len(nums))])
	}
	prog := make([]bpf.RawInstruction, nums[0])
	for i := range prog {
		c, jt, jf, k := nums[1+4*i], nums[2+4*i], nums[3+4*i], nums[4+4*i]
		if c > 0xffff || jt > 0xff || jf > 0xff {
			return nil, fmt.Errorf("tcpdump -ddd output: instruction %d out of range", i)
		}
		prog[i] = bpf.RawInstruction{Op: uint16(c), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)}
	}
	return prog, nil
}
