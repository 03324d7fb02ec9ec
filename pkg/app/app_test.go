package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/app"
	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	"github.com/rs/zerolog"
)

type demoConfig struct {
	Greeting string `split_words:"true" required:"true" desc:"What to say."`
	HTTPAddr string `split_words:"true" default:"127.0.0.1:0" desc:"Operations endpoint."`
}

type fakeService struct {
	fail error
	ran  chan struct{}
}

func (f *fakeService) Run(ctx context.Context) error {
	close(f.ran)
	if f.fail != nil {
		return f.fail
	}
	<-ctx.Done()
	return nil
}

func command(cfg *demoConfig, svc *fakeService, stdout, stderr *bytes.Buffer) *app.Command {
	return &app.Command{
		Name: "demo-svc", Version: "1.2.3",
		Sections: []app.Section{{Prefix: "DEMO_SVC", Title: "demo", Spec: cfg}},
		Check: func() error {
			if cfg.Greeting == "boom" {
				return errors.New("DEMO_SVC_GREETING: \"boom\" is not a greeting;\nuse hello")
			}
			return nil
		},
		OpsAddr:    func() string { return cfg.HTTPAddr },
		OpsAddrVar: "DEMO_SVC_HTTP_ADDR",
		Start: func(ctx context.Context, env app.Env) (app.Service, error) {
			if env.Bus == nil || env.Ops == nil {
				return nil, errors.New("missing env")
			}
			return svc, nil
		},
		Stdout: stdout, Stderr: stderr,
	}
}

func TestConfigureVersionAndMisuse(t *testing.T) {
	var out, errb bytes.Buffer
	c := command(&demoConfig{}, nil, &out, &errb)
	if code := c.Main(context.Background(), []string{"configure"}); code != 0 {
		t.Fatalf("configure: %d %s", code, errb.String())
	}
	for _, want := range []string{"LOG_LEVEL=info", "#NATS_URL=nats://127.0.0.1:4222", "\nDEMO_SVC_GREETING=\n", "#DEMO_SVC_HTTP_ADDR=127.0.0.1:0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("configure lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	for _, arg := range []string{"version", "--version"} {
		out.Reset()
		if code := c.Main(context.Background(), []string{arg}); code != 0 || !strings.HasPrefix(out.String(), "demo-svc 1.2.3 (go1.") {
			t.Fatalf("%s: %d %q", arg, code, out.String())
		}
	}
	if code := c.Main(context.Background(), []string{"launch"}); code != 2 || !strings.Contains(errb.String(), `"launch"`) {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
}

func TestBadSettingsExitWithOneLine(t *testing.T) {
	for name, env := range map[string]string{"missing": "", "invalid": "boom"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("DEMO_SVC_GREETING", env)
			var out, errb bytes.Buffer
			code := command(&demoConfig{}, nil, &out, &errb).Main(context.Background(), nil)
			msg := errb.String()
			if code != 1 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "demo-svc: ") || !strings.Contains(msg, "DEMO_SVC_GREETING") {
				t.Fatalf("exit %d, stderr %q: want 1 and one line naming DEMO_SVC_GREETING", code, msg)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestStartRunsUntilCancelledAndServesOps(t *testing.T) {
	srv := bustest.Start(t)
	addr := freeAddr(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("DEMO_SVC_GREETING", "hello")
	t.Setenv("DEMO_SVC_HTTP_ADDR", addr)
	t.Setenv("LOG_FORMAT", "json")
	svc := &fakeService{ran: make(chan struct{})}
	var out bytes.Buffer
	var logs bustest.LogBuffer
	c := command(&demoConfig{}, svc, &out, nil)
	c.Stderr = &logs
	var beforeConnect bool
	c.BeforeConnect = func(_ context.Context, _ zerolog.Logger, nats *bus.Config) (func(), error) {
		beforeConnect = nats.URL == srv.URL()
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- c.Main(ctx, []string{"start"}) }()
	<-svc.ran
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ops endpoint never ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, logs.String())
	}
	if !beforeConnect {
		t.Fatal("BeforeConnect did not see the NATS settings")
	}
}

func TestFailingServiceExitsOne(t *testing.T) {
	srv := bustest.Start(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("DEMO_SVC_GREETING", "hello")
	svc := &fakeService{ran: make(chan struct{}), fail: fmt.Errorf("jira is gone")}
	var out, errb bytes.Buffer
	code := command(&demoConfig{}, svc, &out, &errb).Main(context.Background(), nil)
	if code != 1 || !strings.Contains(errb.String(), "demo-svc: demo-svc: jira is gone") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestRunAllStopsTheOthersOnFailure(t *testing.T) {
	stopped := make(chan struct{})
	err := app.RunAll(context.Background(), zerolog.Nop(), map[string]func(context.Context) error{
		"failing": func(context.Context) error { return errors.New("broken") },
		"waiting": func(ctx context.Context) error { <-ctx.Done(); close(stopped); return ctx.Err() },
	})
	if err == nil || err.Error() != "failing: broken" {
		t.Fatalf("err = %v", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other runner was not stopped")
	}
}

// One run reports every problem: values, missing settings, typos of the
// binary's own prefix, and what Check finds; one line each after a count.
func TestEveryProblemInOneRun(t *testing.T) {
	t.Setenv("DEMO_SVC_GREETING", "")
	t.Setenv("DEMO_SVC_HTTP_ADR", "127.0.0.1:0")
	t.Setenv("NATS_API_TIMEOUT", "5")
	t.Setenv("NATS_URLS", "nats://x:4222") // a near miss of a shared prefix: a warning only
	t.Setenv("NATS_CONTEXT", "prod")       // the nats CLI's own variable: not ours to judge
	var out, errb bytes.Buffer
	c := command(&demoConfig{}, nil, &out, &errb)
	c.Check = func() error {
		return errors.Join(errors.New("DEMO_SVC_OTHER: broken; fix it"), errors.New("DEMO_SVC_GREETING: also reported by the check"),
			errors.New("nothing to say: also reported, set DEMO_SVC_GREETING_FILE or DEMO_SVC_OTHER"), errors.New("DEMO_SVC_GREETINGS_LIST: another setting"))
	}
	code := c.Main(context.Background(), []string{"start"})
	msg := errb.String()
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, msg)
	}
	for _, want := range []string{
		"demo-svc: warning: NATS_URLS is not a setting (a typo?); did you mean NATS_URL?\n",
		"demo-svc: 5 problems to fix:\n",
		"  - DEMO_SVC_GREETINGS_LIST: another setting\n",
		"  - NATS_API_TIMEOUT=\"5\": not a duration; write it with a unit, e.g. 5m",
		"  - DEMO_SVC_GREETING is required and not set: What to say.\n",
		"  - DEMO_SVC_HTTP_ADR is not a setting (a typo?); did you mean DEMO_SVC_HTTP_ADDR?\n",
		"  - DEMO_SVC_OTHER: broken; fix it\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "also reported") || strings.Contains(msg, "NATS_CONTEXT") {
		t.Errorf("a problem is reported twice, or a foreign variable is judged:\n%s", msg)
	}
}

func TestConfigurePutsRequiredSettingsFirst(t *testing.T) {
	var out, errb bytes.Buffer
	c := command(&demoConfig{}, nil, &out, &errb)
	c.Sections[0].Required = []config.Hint{{Name: "DEMO_SVC_GREETING", Placeholder: "hello", Note: "What to say."}}
	c.Notes = map[string]string{"NATS_URL": "Leave it unset to embed a server."}
	if code := c.Main(context.Background(), []string{"configure"}); code != 0 {
		t.Fatalf("configure: %d %s", code, errb.String())
	}
	s := out.String()
	req, opt := strings.Index(s, "# What to say.\nDEMO_SVC_GREETING=hello\n"), strings.Index(s, "Optional")
	if req < 0 || opt < 0 || req > opt {
		t.Fatalf("the required setting is not first, uncommented with its placeholder:\n%s", s)
	}
	if strings.Count(s, "DEMO_SVC_GREETING=") != 1 {
		t.Errorf("the required setting is listed twice:\n%s", s)
	}
	if !strings.Contains(s, "# Leave it unset to embed a server.\n#NATS_URL=") {
		t.Errorf("the NATS_URL note is missing:\n%s", s)
	}
}

// `start --help` prints help and starts nothing; stray arguments are
// refused with a hint instead of being ignored.
func TestHelpNeverStarts(t *testing.T) {
	for _, args := range [][]string{{"start", "--help"}, {"-h"}, {"configure", "-h"}, {"help"}} {
		var out, errb bytes.Buffer
		c := command(&demoConfig{}, nil, &out, &errb)
		started := false
		c.Start = func(context.Context, app.Env) (app.Service, error) { started = true; return nil, errors.New("started") }
		if code := c.Main(context.Background(), args); code != 0 || started || !strings.Contains(out.String(), "usage: demo-svc") {
			t.Fatalf("%v: exit %d, started %v, stdout %q, stderr %q", args, code, started, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	c := command(&demoConfig{}, nil, &out, &errb)
	if code := c.Main(context.Background(), []string{"start", "--config=/etc/teleport-jira.toml"}); code != 2 || !strings.Contains(errb.String(), "accessbridge import /etc/teleport-jira.toml") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// The NATS connection is a start-up check like the others: announced, and
// a refused connection says so and names NATS_URL.
func TestNATSIsCheckedAtStart(t *testing.T) {
	addr := freeAddr(t) // nothing listens there
	t.Setenv("NATS_URL", "nats://"+addr)
	t.Setenv("DEMO_SVC_GREETING", "hello")
	t.Setenv("LOG_FORMAT", "json")
	var out, errb bytes.Buffer
	code := command(&demoConfig{}, nil, &out, &errb).Main(context.Background(), []string{"start"})
	want := "demo-svc: NATS at nats://" + addr + ": connection refused (nothing listens on " + addr + "); check NATS_URL\n"
	if code != 1 || !strings.HasSuffix(errb.String(), want) || !strings.Contains(errb.String(), `"message":"checking NATS at nats://`+addr+`"`) {
		t.Fatalf("exit %d, stderr:\n%s\nwant it to end with %q after a progress line", code, errb.String(), want)
	}
}
