package demo

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Ports are the listen addresses of a demo: the emulators' and the product's.
type Ports struct {
	Jira          string // Jira emulator: REST API and board page
	Teleport      string // Teleport emulator: gRPC API
	TeleportAdmin string // Teleport emulator: admin endpoint of the teleport-sim CLI
	Ingress       string // AccessBridge's webhook ingress
	Ops           string // AccessBridge's /status /readyz /metrics
	NATS          string // the embedded NATS server
	Mattermost    string // Mattermost emulator: REST API and its page
}

// DefaultPorts are the demo's fixed addresses, all on loopback.
func DefaultPorts() Ports {
	return Ports{
		Jira: "127.0.0.1:8080", Teleport: "127.0.0.1:3025", TeleportAdmin: "127.0.0.1:3080",
		Ingress: "127.0.0.1:8081", Ops: "127.0.0.1:8090", NATS: "127.0.0.1:4222",
		Mattermost: "127.0.0.1:8065",
	}
}

// portNames maps the names accepted by ParsePorts to the fields.
func (p *Ports) fields() map[string]*string {
	return map[string]*string{
		"jira": &p.Jira, "teleport": &p.Teleport, "teleport-admin": &p.TeleportAdmin,
		"ingress": &p.Ingress, "ops": &p.Ops, "nats": &p.NATS, "mattermost": &p.Mattermost,
	}
}

// PortNames are the names ParsePorts accepts, sorted.
func PortNames() []string {
	var p Ports
	var names []string
	for n := range p.fields() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParsePorts applies a DEMO_PORTS spec to p:
//
//	+10000                     every port shifted by 10000 (8080 → 18080, …)
//	jira=9080,ingress=9081     the named ones (a port, or host:port)
//	+10000,nats=5222           both
//
// Names: jira, teleport, teleport-admin, ingress, ops, nats, mattermost. Port 0 picks a
// free port.
func ParsePorts(spec string, p Ports) (Ports, error) {
	fields := p.fields()
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.HasPrefix(part, "+") {
			off, err := strconv.Atoi(part[1:])
			if err != nil || off < 0 || off > 60000 {
				return p, fmt.Errorf("DEMO_PORTS: %q: an offset is +N, e.g. +10000", part)
			}
			for name, f := range fields {
				host, port, err := net.SplitHostPort(*f)
				if err != nil {
					return p, fmt.Errorf("DEMO_PORTS: %s address %q: %v", name, *f, err)
				}
				n, _ := strconv.Atoi(port)
				if n == 0 {
					continue
				}
				if n+off > 65535 {
					return p, fmt.Errorf("DEMO_PORTS: %s port %d+%d is above 65535", name, n, off)
				}
				*f = net.JoinHostPort(host, strconv.Itoa(n+off))
			}
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		f := fields[strings.TrimSpace(name)]
		if !ok || f == nil {
			return p, fmt.Errorf("DEMO_PORTS: %q: want +OFFSET or NAME=PORT with NAME one of %s", part, strings.Join(PortNames(), ", "))
		}
		value = strings.TrimSpace(value)
		if n, err := strconv.Atoi(value); err == nil {
			if n < 0 || n > 65535 {
				return p, fmt.Errorf("DEMO_PORTS: %s=%d: a port is 0–65535", name, n)
			}
			host, _, _ := net.SplitHostPort(*f)
			*f = net.JoinHostPort(host, value)
			continue
		}
		host, port, err := net.SplitHostPort(value)
		if err != nil || host == "" {
			return p, fmt.Errorf("DEMO_PORTS: %s=%q: want a port or host:port", name, value)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return p, fmt.Errorf("DEMO_PORTS: %s=%q: a port is 0–65535", name, value)
		}
		*f = value
	}
	return p, nil
}
