// Package service holds the plumbing every AccessBridge binary shares:
// signal handling here, configuration in config, logging in logging, the
// operations HTTP endpoints in ops, the start-up checks of dependencies in
// startup and the build's version in buildinfo.
package service

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext is cancelled on SIGINT or SIGTERM, starting a graceful
// shutdown; a second signal kills the process as usual.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		cancel() // restore default handling so a second signal is fatal
	}()
	return ctx, cancel
}
