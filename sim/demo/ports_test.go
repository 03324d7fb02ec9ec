package demo_test

import (
	"strings"
	"testing"

	"github.com/accessbridge/accessbridge/sim/demo"
)

func TestParsePorts(t *testing.T) {
	def := demo.DefaultPorts()
	cases := []struct {
		spec string
		want demo.Ports
	}{
		{"", def},
		{"+10000", demo.Ports{Jira: "127.0.0.1:18080", Teleport: "127.0.0.1:13025", TeleportAdmin: "127.0.0.1:13080",
			Ingress: "127.0.0.1:18081", Ops: "127.0.0.1:18090", NATS: "127.0.0.1:14222", Mattermost: "127.0.0.1:18065"}},
		{"jira=9080, ingress=9081", demo.Ports{Jira: "127.0.0.1:9080", Teleport: def.Teleport, TeleportAdmin: def.TeleportAdmin,
			Ingress: "127.0.0.1:9081", Ops: def.Ops, NATS: def.NATS, Mattermost: def.Mattermost}},
		{"+1,nats=0.0.0.0:5222,teleport-admin=0", demo.Ports{Jira: "127.0.0.1:8081", Teleport: "127.0.0.1:3026", TeleportAdmin: "127.0.0.1:0",
			Ingress: "127.0.0.1:8082", Ops: "127.0.0.1:8091", NATS: "0.0.0.0:5222", Mattermost: "127.0.0.1:8066"}},
	}
	for _, c := range cases {
		got, err := demo.ParsePorts(c.spec, def)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if got != c.want {
			t.Errorf("%q:\n got  %+v\n want %+v", c.spec, got, c.want)
		}
	}
	for spec, msg := range map[string]string{
		"jra=9080":     "NAME one of ingress, jira, mattermost, nats, ops, teleport, teleport-admin",
		"jira=70000":   "a port is 0–65535",
		"jira=abc":     "want a port or host:port",
		"+x":           "an offset is +N",
		"+60000":       "above 65535",
		"ingress=:80x": "want a port or host:port",
	} {
		if _, err := demo.ParsePorts(spec, def); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: err %v, want %q", spec, err, msg)
		}
	}
}

func TestNextStepsSayWhatToTry(t *testing.T) {
	h := demo.Hints{BoardURL: "http://127.0.0.1:18080/", TeleportSim: "bin/teleport-sim", AdminURL: "http://127.0.0.1:13080",
		NATSCLI: "bin/tools/nats", NATSURL: "nats://127.0.0.1:14222", MetricsURL: "http://127.0.0.1:18090/metrics",
		Requester: "myuser", LogPath: "tmp/demo/accessbridge.log"}
	out := demo.NextSteps(h)
	for _, want := range []string{
		"bin/teleport-sim request create --admin http://127.0.0.1:13080 --user myuser --roles editor",
		"http://127.0.0.1:18080/",
		"bin/tools/nats --server nats://127.0.0.1:14222 sub 'teleport.>'",
		"`make tools` installs it",
		"Press Ctrl-C to stop.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hints lack %q:\n%s", want, out)
		}
	}
	h.CLIInstalled = true
	if strings.Contains(demo.NextSteps(h), "make tools") {
		t.Error("hints tell to install the nats CLI although it is installed")
	}
}
