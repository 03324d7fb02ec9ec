// Package logging builds the one zerolog logger a process passes down:
// JSON by default, human-readable console output when stderr is a terminal.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Config is the logging section of every service (prefix LOG).
type Config struct {
	Level  string `split_words:"true" default:"info" desc:"Log level: trace, debug, info, warn, error."`
	Format string `split_words:"true" default:"auto" desc:"Log format: json, console, or auto (console when stderr is a terminal)."`
}

// New returns a logger writing to w (os.Stderr when nil) with the service
// name attached to every line.
func New(cfg Config, service string, w io.Writer) (zerolog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	level, err := zerolog.ParseLevel(strings.ToLower(cfg.Level))
	if err != nil || cfg.Level == "" {
		return zerolog.Nop(), fmt.Errorf("LOG_LEVEL: %q is not one of trace, debug, info, warn, error", cfg.Level)
	}
	switch cfg.Format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	case "auto", "":
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
		}
	default:
		return zerolog.Nop(), fmt.Errorf("LOG_FORMAT: %q is not json, console or auto", cfg.Format)
	}
	switch w.(type) {
	case *os.File:
		// JSON lines to a file or pipe (stderr) are written in batches under
		// load: one system call for the lines logged during the previous one.
		w = newBatchWriter(w)
	case zerolog.ConsoleWriter:
		// A terminal: written line by line, below.
		w = zerolog.SyncWriter(w)
	default:
		// Several goroutines log at once; a buffer (tests, embedding) is
		// written line by line, each line there when its log call returns.
		w = zerolog.SyncWriter(w)
	}
	l := zerolog.New(w).Level(level).With().Timestamp()
	if service != "" {
		l = l.Str("service", service)
	}
	return l.Logger(), nil
}
