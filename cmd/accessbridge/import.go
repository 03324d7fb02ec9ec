package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/accessbridge/accessbridge/cmd/accessbridge/internal/importer"
	"github.com/accessbridge/accessbridge/pkg/service/buildinfo"
)

const importUsage = `usage: accessbridge import [-o FILE] [-secrets-dir DIR] teleport-jira.toml [teleport-mattermost.toml]

Translates the TOML configuration of Teleport's teleport-jira (and
teleport-mattermost) plugin into AccessBridge's environment variables. The
environment file goes to standard output (or FILE, written with mode 0600);
every key that could not be carried over, and every setting still to set, is
listed in it and on standard error.

  -o FILE            write the environment file to FILE instead of standard output
  -secrets-dir DIR   write each secret (Jira API token, Mattermost token) to a file
                     in DIR (mode 0600) and refer to it with *_FILE
`

// runImport implements `accessbridge import`.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "")
	secretsDir := fs.String("secrets-dir", "", "")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(stdout, importUsage)
			return 0
		}
		fmt.Fprintf(stderr, "accessbridge import: %v\n\n%s", err, importUsage)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, importUsage)
		return 2
	}
	var files []importer.File
	for _, name := range fs.Args() {
		b, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "accessbridge import: %v\n", err)
			return 1
		}
		files = append(files, importer.File{Name: name, Data: b})
	}
	res, err := importer.Translate(files, importer.Options{SecretsDir: *secretsDir})
	if err != nil {
		fmt.Fprintf(stderr, "accessbridge import: %v\n", err)
		return 1
	}
	env := res.EnvFile(fs.Args(), "AccessBridge "+buildinfo.Get().Version)
	if *out == "" {
		fmt.Fprint(stdout, env)
	} else if err := os.WriteFile(*out, []byte(env), 0o600); err != nil {
		fmt.Fprintf(stderr, "accessbridge import: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "accessbridge import: %d settings carried over", len(res.Settings))
	if *out != "" {
		fmt.Fprintf(stderr, " to %s", *out)
	}
	fmt.Fprintln(stderr)
	for _, td := range res.ToDo {
		fmt.Fprintf(stderr, "  still to set: %s (%s)\n", td[0], td[2])
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "  not carried over: %s: %s\n", s.Key, s.Why)
	}
	if res.HasSecrets() {
		fmt.Fprintln(stderr, "  the environment file holds a secret: keep it private (chmod 600), or use -secrets-dir to keep secrets in files")
	}
	return 0
}
