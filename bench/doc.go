// Package bench holds AccessBridge's benchmarks: the harness over the real
// binaries (cmd/bench, `make bench`) and a benchstat-friendly `go test
// -bench` set for the hot paths (this package, `make bench-go`).
package bench
