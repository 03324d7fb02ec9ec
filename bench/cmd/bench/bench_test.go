package main

import (
	"testing"
	"time"
)

func TestNormaliseRoute(t *testing.T) {
	for in, want := range map[string]string{
		"/rest/api/2/issue":                                 "/rest/api/2/issue",
		"/rest/api/2/issue/TAR-1/transitions":               "/rest/api/2/issue/{issueIdOrKey}/transitions",
		"/rest/api/2/issue/10001/properties/teleportAccess": "/rest/api/2/issue/{issueIdOrKey}/properties/{propertyKey}",
		"/rest/api/2/project/TAR/statuses":                  "/rest/api/2/project/{projectIdOrKey}/statuses",
		"/rest/api/2/search/jql":                            "/rest/api/2/search/jql",
	} {
		if got := normaliseRoute(in); got != want {
			t.Errorf("normaliseRoute(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStats(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := distOf(ds)
	if d.P50 != 50 || d.P90 != 90 || d.P99 != 99 || d.Max != 100 || d.N != 100 {
		t.Errorf("distOf = %+v", d)
	}
	a := agg([]float64{3, 1, 2})
	if a.Median != 2 || a.Min != 1 || a.Max != 3 {
		t.Errorf("agg = %+v", a)
	}
	if a := agg([]float64{1, 2, 3, 10}); a.Median != 2.5 {
		t.Errorf("median of 4 = %v", a.Median)
	}
}

func TestPerfLine(t *testing.T) {
	for line, want := range map[string][2]string{
		"     6.01%  [.] encoding/json.appendCompact                       -      -": {"6.01", "encoding/json.appendCompact"},
		"    93.50%     0.00%  [.] runtime.goexit.abi0":                              {"93.50", "runtime.goexit.abi0"},
		"     3.20%  [k] finish_task_switch.isra.0":                                  {"3.20", "finish_task_switch.isra.0"},
	} {
		m := perfLine.FindStringSubmatch(line)
		if m == nil || m[1] != want[0] || m[4] != want[1] {
			t.Errorf("perfLine(%q) = %q, want %q", line, m, want)
		}
	}
	for sym, want := range map[string]string{
		"encoding/json.appendCompact":                              "encoding/json",
		"github.com/nats-io/nats-server/v2/server.(*client).parse": "github.com/nats-io/nats-server/v2/server",
		"runtime.memmove":                                          "runtime",
		"0x7f3a":                                                   "[other]",
	} {
		if got := goPackage(sym); got != want {
			t.Errorf("goPackage(%q) = %q, want %q", sym, got, want)
		}
	}
}
