package webhookingress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/services/webhook-ingress/internal/webhook"
)

// BenchmarkWebhookSignedPublish is one signed delivery through the router:
// HMAC verification, parsing, and the publish with its JetStream ack on an
// embedded NATS server (file store). Reports deliveries/s and latency
// percentiles.
func BenchmarkWebhookSignedPublish(b *testing.B) {
	h := startIngress(b, baseConfig())
	handler := h.svc.Handler()
	body := loadSamples(b)[0].body
	sig := sign(secretNew, body)
	var seq atomic.Int64
	deliver := func() time.Duration {
		r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Hub-Signature", sig)
		r.Header.Set("X-Atlassian-Webhook-Identifier", "bench-"+strconv.FormatInt(seq.Add(1), 10))
		w := httptest.NewRecorder()
		start := time.Now()
		handler.ServeHTTP(w, r)
		d := time.Since(start)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return d
	}

	b.Run("serial", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			lat = append(lat, deliver())
		}
		report(b, lat, time.Since(start))
	})
	b.Run("parallel", func(b *testing.B) {
		var mu sync.Mutex
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.SetParallelism(16)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				mine = append(mine, deliver())
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		report(b, lat, time.Since(start))
	})
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.90), "p90-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkHMACVerify is the signature check alone (two secrets, as during
// a rotation, the match on the second).
func BenchmarkHMACVerify(b *testing.B) {
	body := loadSamples(b)[5].body
	a := &webhook.Auth{HMACSecrets: [][]byte{[]byte(secretOld), []byte(secretNew)}}
	hdr := http.Header{"X-Hub-Signature": {sign(secretNew, body)}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := a.CheckSignature(hdr, body); !ok || err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliveryOverTCP is the whole path a delivery takes through the
// ingress: net/http over a real socket (64 keep-alive connections), the
// router, HMAC, the parse, the publish and its JetStream ack (embedded
// NATS, file store), the answer and the log line (JSON, discarded). The
// clients write prebuilt requests and read the answers with the least
// work, so that what ns/op and allocs/op count is mostly the ingress and
// the NATS server; -cpuprofile/-memprofile with -focus show the ingress's
// share.
func BenchmarkDeliveryOverTCP(b *testing.B) {
	h := startIngressLogging(b, baseConfig(), io.Discard) // the harness's buffer would grow with b.N
	body := loadSamples(b)[0].body
	addr := strings.TrimPrefix(h.url, "http://")
	head := fmt.Appendf(nil, "POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Hub-Signature: %s\r\nContent-Length: %d\r\nX-Atlassian-Webhook-Identifier: ",
		addr, sign(secretNew, body), len(body))
	var seq atomic.Int64
	const conns = 64
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		rd := bufio.NewReader(c)
		req := make([]byte, 0, len(head)+32+len(body))
		for pb.Next() {
			req = append(strconv.AppendInt(append(req[:0], head...), seq.Add(1), 10), "\r\n\r\n"...)
			req = append(req, body...)
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(rd, nil)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
