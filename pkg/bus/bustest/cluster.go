package bustest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/bus"
	"github.com/accessbridge/accessbridge/pkg/bus/embedded"
	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of embedded servers on 127.0.0.1 whose
// nodes can be stopped and started one by one, keeping their ports and
// stores.
type Cluster struct {
	tb    testing.TB
	nodes []*clusterNode
}

type clusterNode struct {
	name, dir, conf string
	port            int
	ns              *server.Server
}

// StartCluster runs an n-node cluster for the test, waits until it has a
// JetStream meta leader, and stops it at cleanup.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb}
	clientPorts, routePorts := freePorts(tb, n), freePorts(tb, n)
	base := tb.TempDir()
	for i := 0; i < n; i++ {
		var routes []string
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
			}
		}
		nd := &clusterNode{name: "n" + strconv.Itoa(i), dir: filepath.Join(base, "js-"+strconv.Itoa(i)),
			conf: filepath.Join(base, "n"+strconv.Itoa(i)+".conf"), port: clientPorts[i]}
		conf := fmt.Sprintf("cluster { name: test, listen: 127.0.0.1:%d, routes: [%s] }\n",
			routePorts[i], strings.Join(routes, ", "))
		if err := os.WriteFile(nd.conf, []byte(conf), 0o600); err != nil {
			tb.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	for i := range c.nodes {
		if err := c.Start(i); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	c.WaitForLeader(30 * time.Second)
	return c
}

// Start starts node i (a no-op when it runs). It may be called from any
// goroutine.
func (c *Cluster) Start(i int) error {
	nd := c.nodes[i]
	if nd.ns != nil {
		return nil
	}
	ns, err := embedded.Run(embedded.Options{Dir: nd.dir, Port: nd.port, ServerName: nd.name, ConfigFile: nd.conf})
	if err != nil {
		return fmt.Errorf("start cluster node %s: %w", nd.name, err)
	}
	nd.ns = ns
	return nil
}

// Stop shuts node i down (a no-op when it is down). It may be called from
// any goroutine, but not at the same time as Start of the same node.
func (c *Cluster) Stop(i int) {
	nd := c.nodes[i]
	if nd.ns != nil {
		nd.ns.Shutdown()
		nd.ns.WaitForShutdown()
		nd.ns = nil
	}
}

// WaitForLeader waits until a running node is the JetStream meta leader.
func (c *Cluster) WaitForLeader(within time.Duration) {
	c.tb.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, nd := range c.nodes {
			if nd.ns != nil && nd.ns.JetStreamIsLeader() {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.tb.Fatalf("no JetStream meta leader within %s", within)
}

// WaitForNode waits until node i is healthy as its /healthz reports it:
// caught up with the meta leader and with every stream and consumer it
// holds a replica of — what a rolling restart waits for before it stops
// the next node. It may be called from any goroutine.
func (c *Cluster) WaitForNode(i int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if nd := c.nodes[i]; nd.ns != nil && nd.ns.Healthz(nil).StatusCode == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("cluster node %s not current within %s", c.nodes[i].name, within)
}

// URL lists every node's client URL.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = "nats://127.0.0.1:" + strconv.Itoa(nd.port)
	}
	return strings.Join(urls, ",")
}

// Config returns a bus configuration with replicated streams and buckets.
func (c *Cluster) Config() bus.Config {
	return bus.Config{URL: c.URL(), APITimeout: 5 * time.Second, Replicas: len(c.nodes),
		DuplicateWindow: 2 * time.Minute, MaxAge: time.Hour}
}

func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	var ls []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}
