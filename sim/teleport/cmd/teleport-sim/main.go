// Command teleport-sim runs the Teleport Auth emulator and drives it like
// tctl: `teleport-sim serve` starts it; the other commands talk to its admin
// endpoint (--admin, $TELEPORT_SIM_ADMIN, default http://127.0.0.1:3080).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

const defaultAdmin = "http://127.0.0.1:3080"

const usage = `teleport-sim: Teleport Auth Service emulator for AccessBridge tests and demos

  teleport-sim serve [--addr 127.0.0.1:3025] [--admin-addr 127.0.0.1:3080]
                     [--edition enterprise|oss] [--config model.yaml]
                     [--identity-dir ./teleport-sim] [--cluster-name NAME]
                     [--proxy-addr HOST:PORT] [--server-version V]
                     [--request-ttl 1h] [--cert-ttl 12h]

  teleport-sim request create --user U --roles editor[,...] [--reason R] [--ttl D]
                              [--resource /cluster/kind/name]... [--reviewers a,b]
  teleport-sim request ls [--state pending|approved|denied] [--json]
  teleport-sim request get ID
  teleport-sim request approve ID [--reason R]
  teleport-sim request deny ID [--reason R]
  teleport-sim request review ID --author U (--approve|--deny) [--reason R]
  teleport-sim request expire ID
  teleport-sim request rm ID
  teleport-sim request plugin-data ID PLUGIN [key=value ...]
  teleport-sim users
  teleport-sim audit
  teleport-sim identity rotate USER     (new cert; the old one is rejected)
  teleport-sim identity reissue USER    (new cert; the old one stays valid)
  teleport-sim fault drop-watchers | refuse DURATION | latency DURATION

Client commands take --admin URL (default $TELEPORT_SIM_ADMIN or ` + defaultAdmin + `).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "teleport-sim:", err)
		os.Exit(1)
	}
}

// Main is the CLI: one Run per invocation.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Run executes the command in args; serve blocks until ctx ends.
func (m Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return m.serve(ctx, rest)
	case "request", "req":
		return m.request(ctx, rest)
	case "users":
		return m.users(ctx, rest)
	case "audit":
		return m.audit(ctx, rest)
	case "identity":
		return m.identity(ctx, rest)
	case "fault":
		return m.fault(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprint(m.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func (m Main) serve(ctx context.Context, args []string) error {
	fs := m.flags("serve")
	addr := fs.String("addr", "127.0.0.1:3025", "gRPC listen address (the plugin's auth_server)")
	adminAddr := fs.String("admin-addr", "127.0.0.1:3080", "admin HTTP listen address (keep on loopback)")
	edition := fs.String("edition", "enterprise", "oss or enterprise")
	config := fs.String("config", "", "YAML/JSON file with users and roles (default: built-in model)")
	dir := fs.String("identity-dir", "teleport-sim", "directory for <user>/identity and <user>/auth.{crt,key,cas}")
	cluster := fs.String("cluster-name", teleportsim.DefaultClusterName, "cluster name reported by Ping")
	proxy := fs.String("proxy-addr", teleportsim.DefaultProxyPublicAddr, "proxy public address reported by Ping")
	version := fs.String("server-version", teleportsim.DefaultServerVersion, "Teleport version reported by Ping")
	requestTTL := fs.Duration("request-ttl", time.Hour, "lifetime of access requests before they expire")
	certTTL := fs.Duration("cert-ttl", 12*time.Hour, "validity of issued certificates")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	ed, err := teleportsim.ParseEdition(*edition)
	if err != nil {
		return err
	}
	opts := teleportsim.Options{
		Edition: ed, ListenAddr: *addr, AdminAddr: *adminAddr, IdentityDir: *dir,
		ClusterName: *cluster, ProxyPublicAddr: *proxy, ServerVersion: *version,
		RequestTTL: *requestTTL, CertTTL: *certTTL,
		Logger: zerolog.New(m.Stderr).With().Timestamp().Logger(),
	}
	if *config != "" {
		model, err := teleportsim.LoadModel(*config)
		if err != nil {
			return err
		}
		opts.Model = &model
	}
	srv, err := teleportsim.New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()

	fmt.Fprintf(m.Stdout, "teleport-sim %s edition, cluster %s, version %s\n", ed, *cluster, *version)
	fmt.Fprintf(m.Stdout, "auth address: %s\n", srv.Addr())
	fmt.Fprintf(m.Stdout, "admin endpoint: %s\n", srv.AdminURL())
	fmt.Fprintln(m.Stdout, "identity files:")
	for _, u := range srv.Users() {
		fmt.Fprintf(m.Stdout, "  %-16s %s\n", u.Name, srv.IdentityFile(u.Name))
	}
	<-ctx.Done()
	return nil
}

func (m Main) client(fs *flag.FlagSet) *string {
	def := m.Getenv("TELEPORT_SIM_ADMIN")
	if def == "" {
		def = defaultAdmin
	}
	return fs.String("admin", def, "admin endpoint of the running emulator")
}

func (m Main) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	return fs
}

// parse allows flags after positional arguments (`approve ID --reason x`).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func (m Main) request(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errors.New("request: missing subcommand")
	}
	sub, args := args[0], args[1:]
	fs := m.flags("request " + sub)
	admin := m.client(fs)
	switch sub {
	case "create":
		user := fs.String("user", "", "requesting user")
		roles := fs.String("roles", "", "comma-separated roles")
		reason := fs.String("reason", "", "request reason")
		ttl := fs.Duration("ttl", 0, "request lifetime (default: the emulator's)")
		reviewers := fs.String("reviewers", "", "comma-separated suggested reviewers")
		var resources repeated
		fs.Var(&resources, "resource", "requested resource id /cluster/kind/name (repeatable)")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if *user == "" && len(pos) == 1 { // tctl style: request create USER --roles ...
			*user = pos[0]
		}
		if *user == "" {
			return errors.New("request create: --user is required")
		}
		body := teleportsim.CreateRequestBody{
			User: *user, Roles: splitList(*roles), Reason: *reason,
			Resources: resources, SuggestedReviewers: splitList(*reviewers),
		}
		if *ttl > 0 {
			body.TTL = ttl.String()
		}
		v, err := teleportsim.NewAdminClient(*admin).CreateRequest(ctx, body)
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, v.ID)
		return nil
	case "ls":
		state := fs.String("state", "", "only requests in this state")
		asJSON := fs.Bool("json", false, "print JSON")
		if _, err := parse(fs, args); err != nil {
			return err
		}
		reqs, err := teleportsim.NewAdminClient(*admin).Requests(ctx)
		if err != nil {
			return err
		}
		var shown []teleportsim.RequestView
		for _, r := range reqs {
			if *state == "" || strings.EqualFold(r.State, *state) {
				shown = append(shown, r)
			}
		}
		if *asJSON {
			return m.printJSON(shown)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tROLES\tSTATE\tCREATED\tREASON")
		for _, r := range shown {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.User, strings.Join(r.Roles, ","),
				r.State, r.Created.Format(time.RFC3339), r.Reason)
		}
		return tw.Flush()
	}

	reason := fs.String("reason", "", "reason")
	author := fs.String("author", "", "review author")
	approve := fs.Bool("approve", false, "approve (review)")
	deny := fs.Bool("deny", false, "deny (review)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("request %s: missing request id", sub)
	}
	id := pos[0]
	c := teleportsim.NewAdminClient(*admin)
	var v teleportsim.RequestView
	switch sub {
	case "get":
		v, err = c.Request(ctx, id)
	case "approve":
		v, err = c.Approve(ctx, id, *reason)
	case "deny":
		v, err = c.Deny(ctx, id, *reason)
	case "review":
		if *approve == *deny {
			return errors.New("request review: give exactly one of --approve or --deny")
		}
		if *author == "" {
			return errors.New("request review: --author is required")
		}
		v, err = c.Review(ctx, id, teleportsim.ReviewBody{Author: *author, Approve: *approve, Reason: *reason})
	case "expire":
		if err := c.Expire(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "request %s expired\n", id)
		return nil
	case "rm":
		if err := c.Delete(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "request %s deleted\n", id)
		return nil
	case "plugin-data":
		if len(pos) < 2 {
			return errors.New("request plugin-data: usage ID PLUGIN [key=value ...]")
		}
		if len(pos) > 2 {
			set := map[string]string{}
			for _, kv := range pos[2:] {
				k, val, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("request plugin-data: %q is not key=value", kv)
				}
				set[k] = val
			}
			if err := c.SetPluginData(ctx, id, pos[1], set); err != nil {
				return err
			}
		}
		data, err := c.PluginData(ctx, id, pos[1])
		if err != nil {
			return err
		}
		return m.printJSON(data)
	default:
		fmt.Fprint(m.Stderr, usage)
		return fmt.Errorf("unknown request subcommand %q", sub)
	}
	if err != nil {
		return err
	}
	if sub == "get" {
		return m.printJSON(v)
	}
	fmt.Fprintf(m.Stdout, "request %s is %s\n", v.ID, v.State)
	return nil
}

func (m Main) users(ctx context.Context, args []string) error {
	fs := m.flags("users")
	admin := m.client(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	users, err := teleportsim.NewAdminClient(*admin).Users(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLES")
	for _, u := range users {
		roles := strings.Join(u.Roles, ",")
		if u.BuiltinAdmin {
			roles += " (built-in admin)"
		}
		fmt.Fprintf(tw, "%s\t%s\n", u.Name, roles)
	}
	return tw.Flush()
}

func (m Main) audit(ctx context.Context, args []string) error {
	fs := m.flags("audit")
	admin := m.client(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	events, err := teleportsim.NewAdminClient(*admin).Audit(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(m.Stdout)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	return nil
}

func (m Main) identity(ctx context.Context, args []string) error {
	fs := m.flags("identity")
	admin := m.client(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "rotate" && pos[0] != "reissue") {
		return errors.New("usage: identity rotate|reissue USER")
	}
	c := teleportsim.NewAdminClient(*admin)
	if pos[0] == "reissue" {
		path, err := c.ReissueIdentity(ctx, pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "new identity for %s written to %s (old certificate still valid)\n", pos[1], path)
		return nil
	}
	path, err := c.RotateIdentity(ctx, pos[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "new identity for %s written to %s (old certificate rejected)\n", pos[1], path)
	return nil
}

func (m Main) fault(ctx context.Context, args []string) error {
	fs := m.flags("fault")
	admin := m.client(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c := teleportsim.NewAdminClient(*admin)
	if len(pos) == 1 && pos[0] == "drop-watchers" {
		return c.DropWatchers(ctx)
	}
	if len(pos) != 2 {
		return errors.New("usage: fault drop-watchers | refuse DURATION | latency DURATION")
	}
	d, err := time.ParseDuration(pos[1])
	if err != nil {
		return fmt.Errorf("fault %s: %w", pos[0], err)
	}
	switch pos[0] {
	case "refuse":
		return c.RefuseConnections(ctx, d)
	case "latency":
		return c.SetLatency(ctx, d)
	}
	return fmt.Errorf("unknown fault %q", pos[0])
}

func (m Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
