// Package embedded runs a NATS server with JetStream inside the process: the
// all-in-one binary's message bus, and the real server every test of the
// messaging layer uses.
package embedded

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options of an embedded server.
type Options struct {
	// Dir is the JetStream file store; required, kept across restarts.
	Dir string
	// Host to listen on; default 127.0.0.1 (never all interfaces unless asked).
	Host string
	// Port to listen on; 0 picks a free one.
	Port int
	// ServerName is reported to clients; default "accessbridge".
	ServerName string
	// MaxPayload bounds one message; default 8 MiB (webhook bodies).
	MaxPayload int32
	// ConfigFile, when set, is a nats-server configuration file whose
	// settings (accounts, users, permissions, TLS) are loaded first; the
	// fields above override it when set.
	ConfigFile string
}

// Run starts the server and waits until it accepts connections.
func Run(o Options) (*server.Server, error) {
	if o.Dir == "" {
		return nil, errors.New("embedded NATS: a data directory is required")
	}
	opts := &server.Options{}
	if o.ConfigFile != "" {
		var err error
		opts, err = server.ProcessConfigFile(o.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: config %s: %w", o.ConfigFile, err)
		}
	}
	opts.JetStream = true
	opts.StoreDir = o.Dir
	opts.Host = o.Host
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	opts.Port = o.Port
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	opts.ServerName = o.ServerName
	if opts.ServerName == "" {
		opts.ServerName = "accessbridge"
	}
	opts.MaxPayload = o.MaxPayload
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	opts.NoSigs = true
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS: not ready to accept connections on %s:%d within 10s", opts.Host, opts.Port)
	}
	return ns, nil
}
