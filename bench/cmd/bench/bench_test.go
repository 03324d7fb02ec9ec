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

func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	m, err := parseProcStat("cpu  100 5 50 700 20 3 2 120 40 0\ncpu0 50 2 25 350 10 1 1 60 20 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if m.total != 1000 || m.idle != 720 || m.steal != 120 {
		t.Fatalf("got total %d idle %d steal %d, want 1000 720 120 (guest time is inside user)", m.total, m.idle, m.steal)
	}
	later := machineSample{total: m.total + 200, idle: m.idle + 20, steal: m.steal + 50}
	if steal, idle := machineShare(m, later); steal != 25 || idle != 10 {
		t.Fatalf("share: steal %.1f%% idle %.1f%%, want 25%% and 10%%", steal, idle)
	}
	if steal, idle := machineShare(m, m); steal != 0 || idle != 0 {
		t.Fatalf("nothing counted: steal %.1f idle %.1f, want 0", steal, idle)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
