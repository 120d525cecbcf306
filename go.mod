module github.com/glsotel/glsotel

go 1.26.0

require (
	github.com/cilium/ebpf v0.22.0
	golang.org/x/arch v0.32.0
	golang.org/x/sys v0.43.0
)

tool github.com/cilium/ebpf/cmd/bpf2go
