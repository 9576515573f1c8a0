module github.com/callscope/callscope

go 1.26.8

require (
	github.com/gopacket/gopacket v1.7.7
	github.com/pion/rtcp v1.2.20
	github.com/pion/rtp v1.10.6
)

require (
	github.com/pion/randutil v0.1.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
