package webhookingress

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
)

func TestSignedSamplesArePublishedOnce(t *testing.T) {
	h := startIngress(t, baseConfig())
	samples := loadSamples(t)
	for i, s := range samples {
		id := fmt.Sprintf("delivery-%d", i)
		resp, body := h.post(delivery{body: s.body, secret: secretNew, identifier: id})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d %s", s.name, resp.StatusCode, body)
		}
		mustContain(t, body, `"result":"published"`)
		// Jira retries after a lost answer: same identifier, stored once.
		resp, body = h.post(delivery{body: s.body, secret: secretNew, identifier: id, retry: "1"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s retried: status %d %s", s.name, resp.StatusCode, body)
		}
		mustContain(t, body, `"duplicate":true`)
	}

	got := h.published()
	if len(got) != len(samples) {
		t.Fatalf("published %d events for %d samples", len(got), len(samples))
	}
	for i, s := range samples {
		ev := got[i]
		w, ok := ev.Payload.(*events.Webhook)
		if !ok {
			t.Fatalf("%s: payload %T", s.name, ev.Payload)
		}
		event, issueID, issueKey := issueOf(t, s.body)
		switch {
		case ev.Type != events.WebhookReceived:
			t.Errorf("%s: type %s", s.name, ev.Type)
		case ev.Source != Source:
			t.Errorf("%s: source %q", s.name, ev.Source)
		case ev.Subject != "jira.webhooks."+issueID:
			t.Errorf("%s: subject %q, want jira.webhooks.%s", s.name, ev.Subject, issueID)
		case ev.ID != fmt.Sprintf("webhook:delivery-%d", i):
			t.Errorf("%s: id %q", s.name, ev.ID)
		case w.Event != event || w.IssueID != issueID || w.IssueKey != issueKey:
			t.Errorf("%s: event %q issue %q %q, want %q %q %q", s.name, w.Event, w.IssueID, w.IssueKey, event, issueID, issueKey)
		case !w.Signed || strings.Join(w.Auth, ",") != events.AuthHMAC:
			t.Errorf("%s: signed %v auth %v", s.name, w.Signed, w.Auth)
		case w.Identifier != fmt.Sprintf("delivery-%d", i) || w.Flow != "Primary" || w.Retry != 0:
			t.Errorf("%s: identifier %q flow %q retry %d", s.name, w.Identifier, w.Flow, w.Retry)
		case !bytes.Equal(w.Body, s.body) || !w.Raw:
			t.Errorf("%s: body differs from the delivery (it travels byte for byte)", s.name)
		case w.SourceIP != "127.0.0.1":
			t.Errorf("%s: source ip %q", s.name, w.SourceIP)
		case time.Since(w.ReceivedAt) > time.Minute:
			t.Errorf("%s: received_at %s", s.name, w.ReceivedAt)
		}
	}
}

func TestRetriedDeliveryIsPublishedOnce(t *testing.T) {
	h := startIngress(t, baseConfig())
	body := loadSamples(t)[0].body
	for retry := range 4 {
		d := delivery{body: body, secret: secretOld, identifier: "0a1b2c3d-retry"}
		if retry > 0 {
			d.retry = fmt.Sprint(retry)
		}
		if resp, b := h.post(d); resp.StatusCode != http.StatusOK {
			t.Fatalf("attempt %d: %d %s", retry, resp.StatusCode, b)
		}
	}
	// Without an identifier (Jira Server), the body hash is the id.
	for range 2 {
		if resp, b := h.post(delivery{body: loadSamples(t)[1].body, secret: secretOld, path: "/"}); resp.StatusCode != http.StatusOK {
			t.Fatalf("unidentified: %d %s", resp.StatusCode, b)
		}
	}
	got := h.published()
	if len(got) != 2 {
		t.Fatalf("published %d events, want 2", len(got))
	}
	if got[0].ID != "webhook:0a1b2c3d-retry" || !strings.HasPrefix(got[1].ID, "webhook:sha256:") {
		t.Fatalf("ids %q %q", got[0].ID, got[1].ID)
	}
}

func TestRejectedDeliveriesPublishNothing(t *testing.T) {
	h := startIngress(t, baseConfig())
	good := loadSamples(t)[0].body
	truncated := good[:len(good)/2]
	big := bytes.Repeat([]byte(" "), 2<<20)
	copy(big, `{"webhookEvent":"jira:issue_updated","issue":{"id":"1"}}`)

	cases := []struct {
		name   string
		d      delivery
		status int
		result string
	}{
		{"bad signature", delivery{body: good, signature: sign(secretNew, []byte(`{"other":1}`))}, 401, "unauthorized"},
		{"malformed signature", delivery{body: good, signature: "sha1=abcd"}, 401, "unauthorized"},
		{"missing signature", delivery{body: good}, 401, "unauthorized"},
		{"wrong secret", delivery{body: good, secret: secretOther}, 401, "unauthorized"},
		{"truncated body, signature of the whole", delivery{body: truncated, signature: sign(secretNew, good)}, 401, "unauthorized"},
		{"truncated body, signed as sent", delivery{body: truncated, secret: secretNew}, 400, "bad_request"},
		{"2 MiB body", delivery{body: big, secret: secretNew}, 413, "too_large"},
		{"not JSON", delivery{body: []byte("hello, jira"), secret: secretNew}, 400, "bad_request"},
		{"JSON array", delivery{body: []byte(`[1,2]`), secret: secretNew}, 400, "bad_request"},
		{"empty body", delivery{body: nil, secret: secretNew}, 400, "bad_request"},
		{"issue event without issue", delivery{body: []byte(`{"webhookEvent":"jira:issue_updated"}`), secret: secretNew}, 400, "bad_request"},
		{"no webhookEvent", delivery{body: []byte(`{"issue":{"id":"10040"}}`), secret: secretNew}, 400, "bad_request"},
		{"issue id not digits", delivery{body: []byte(`{"webhookEvent":"jira:issue_updated","issue":{"id":"1.>"}}`), secret: secretNew}, 400, "bad_request"},
		{"GET", delivery{method: http.MethodGet, body: nil}, 405, "method_not_allowed"},
		{"PUT", delivery{method: http.MethodPut, body: good, secret: secretNew}, 405, "method_not_allowed"},
		{"wrong content type", delivery{body: good, secret: secretNew, contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"no content type", delivery{body: good, secret: secretNew, noCT: true}, 415, "unsupported_media_type"},
		{"non-issue event", delivery{body: []byte(`{"webhookEvent":"project_created","project":{"id":1}}`), secret: secretNew}, 200, "ignored"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := h.post(c.d)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, c.status, body)
			}
			mustContain(t, body, `"result":"`+c.result+`"`)
			if c.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow: %q", resp.Header.Get("Allow"))
			}
			if n := h.count(); n != 0 {
				t.Fatalf("published %d events", n)
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		resp, _ := h.post(delivery{path: "/nope", body: good, secret: secretNew})
		if resp.StatusCode != 404 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("2 MiB chunked body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/webhook", io.MultiReader(bytes.NewReader(big)))
		req.ContentLength = -1 // chunked: the limit is found while reading
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature", sign(secretNew, big))
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("body cut on the wire", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Hub-Signature: %s\r\nContent-Length: %d\r\n\r\n", sign(secretNew, good), len(good))
		_, _ = conn.Write(truncated)
		_ = conn.(*net.TCPConn).CloseWrite()
		reply, _ := io.ReadAll(conn)
		if !bytes.HasPrefix(reply, []byte("HTTP/1.1 400")) {
			t.Fatalf("reply %.80q", reply)
		}
	})
	if n := h.count(); n != 0 {
		t.Fatalf("published %d events", n)
	}
}

func TestNATSDownAnswers503AndTheRetryIsPublished(t *testing.T) {
	cfg := baseConfig()
	cfg.PublishTimeout = 2 * time.Second
	cfg.RetryAfter = 3 * time.Second
	h := startIngress(t, cfg)
	body := loadSamples(t)[2].body
	d := delivery{body: body, secret: secretNew, identifier: "during-outage"}

	h.nats.Stop()
	eventually(t, 10*time.Second, "the bus notices the outage", func() bool { return !h.bus.NC.IsConnected() })
	resp, b := h.post(d)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("during outage: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if strings.Contains(b, "nats://") {
		t.Errorf("the 503 answer leaks internals: %s", b)
	}
	if resp, _ := h.post(delivery{method: http.MethodGet, path: "/readyz"}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during outage: %d", resp.StatusCode)
	}

	h.nats.Restart()
	eventually(t, 20*time.Second, "the bus reconnects", func() bool { return h.bus.NC.IsConnected() })
	if resp, _ := h.post(delivery{method: http.MethodGet, path: "/readyz"}); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz after restart: %d", resp.StatusCode)
	}
	d.retry = "1"
	resp, b = h.post(d)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retry after restart: %d %s", resp.StatusCode, b)
	}
	got := h.published()
	if len(got) != 1 || got[0].ID != "webhook:during-outage" || got[0].Payload.(*events.Webhook).Retry != 1 {
		t.Fatalf("published %+v", got)
	}
}

func TestSecretRotationAcceptsOldAndNew(t *testing.T) {
	h := startIngress(t, baseConfig())
	body := loadSamples(t)[3].body
	for i, secret := range []string{secretOld, secretNew} {
		resp, b := h.post(delivery{body: body, secret: secret, identifier: fmt.Sprint("rot-", i)})
		if resp.StatusCode != 200 {
			t.Fatalf("secret %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if resp, _ := h.post(delivery{body: body, secret: secretOther, identifier: "rot-x"}); resp.StatusCode != 401 {
		t.Fatalf("unknown secret: %d", resp.StatusCode)
	}
	if n := h.count(); n != 2 {
		t.Fatalf("published %d", n)
	}
}

func TestTokenInURL(t *testing.T) {
	cfg := baseConfig()
	cfg.HmacSecrets = ""
	cfg.Tokens = config.Secret("old-url-token-0123456789," + testToken)
	h := startIngress(t, cfg)
	body := loadSamples(t)[4].body
	cases := []struct {
		path   string
		status int
	}{
		{"/webhook", 401},
		{"/webhook?token=wrong-token-0000000000", 401},
		{"/webhook?token=" + testToken + "&token=" + testToken, 401},
		{"/webhook?token=" + testToken, 200},
		{"/?token=old-url-token-0123456789", 200},
	}
	for _, c := range cases {
		resp, b := h.post(delivery{path: c.path, body: body})
		if resp.StatusCode != c.status {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, b)
		}
	}
	got := h.published()
	if len(got) != 1 { // both 200s carry the same body: one event
		t.Fatalf("published %d", len(got))
	}
	w := got[0].Payload.(*events.Webhook)
	if w.Signed || strings.Join(w.Auth, ",") != events.AuthToken {
		t.Fatalf("signed %v auth %v", w.Signed, w.Auth)
	}
}

func TestBasicAuthAndCombinedMethods(t *testing.T) {
	cfg := baseConfig()
	cfg.HmacSecrets = config.Secret(secretNew)
	cfg.BasicAuth = config.Secret(basicUser + ":" + basicPass)
	h := startIngress(t, cfg)
	body := loadSamples(t)[5].body
	resp, _ := h.post(delivery{body: body, secret: secretNew})
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("without basic auth: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := h.post(delivery{body: body, secret: secretNew, basic: [2]string{basicUser, "wrong-password-1234"}}); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	// Both methods are configured, so both are required.
	if resp, _ := h.post(delivery{body: body, basic: [2]string{basicUser, basicPass}}); resp.StatusCode != 401 {
		t.Fatalf("basic auth without the signature: %d", resp.StatusCode)
	}
	if resp, b := h.post(delivery{body: body, secret: secretNew, basic: [2]string{basicUser, basicPass}}); resp.StatusCode != 200 {
		t.Fatalf("both: %d %s", resp.StatusCode, b)
	}
	got := h.published()
	if len(got) != 1 {
		t.Fatalf("published %d", len(got))
	}
	if w := got[0].Payload.(*events.Webhook); !w.Signed || strings.Join(w.Auth, ",") != "hmac,basic" {
		t.Fatalf("signed %v auth %v", w.Signed, w.Auth)
	}
}

func TestNoSecretInAnyLogLine(t *testing.T) {
	cfg := baseConfig()
	cfg.Tokens = config.Secret(testToken)
	cfg.BasicAuth = config.Secret(basicUser + ":" + basicPass)
	h := startIngress(t, cfg)
	body := loadSamples(t)[0].body
	tokenPath := "/webhook?token=" + testToken
	for _, d := range []delivery{
		{path: tokenPath, body: body, secret: secretOld, basic: [2]string{basicUser, basicPass}, identifier: "log-1"},
		{path: tokenPath, body: body, secret: secretOther, basic: [2]string{basicUser, basicPass}},
		{path: "/webhook?token=" + testToken + "x", body: body, secret: secretNew, basic: [2]string{basicUser, basicPass}},
		{path: tokenPath, body: body, secret: secretNew, basic: [2]string{basicUser, basicPass + "x"}},
		{path: tokenPath, body: []byte("not json " + secretNew), secret: secretNew, basic: [2]string{basicUser, basicPass}},
		{path: tokenPath, method: http.MethodGet, basic: [2]string{basicUser, basicPass}},
	} {
		h.post(d)
	}
	logs := h.logs.String()
	if strings.Count(logs, `"message":"webhook delivery"`) != 6 {
		t.Fatalf("want one log line per delivery:\n%s", logs)
	}
	mustContain(t, logs, `"issue_key":"TES-41"`)
	mustContain(t, logs, `"result":"published"`)
	for _, secret := range []string{secretOld, secretNew, secretOther, testToken, basicPass} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a log line holds a secret:\n%s", logs)
		}
	}
	// The body is never logged either: its summary is not in the log.
	if strings.Contains(logs, "Status In Progress") || strings.Contains(logs, "emailAddress") {
		t.Fatalf("a log line holds the body:\n%s", logs)
	}
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, secretOld) || strings.Contains(s, testToken) || strings.Contains(s, basicPass) {
			t.Fatalf("printing the config leaks a secret: %s", s)
		}
	}
}

func TestOperationsEndpointsOnTheWebhookListener(t *testing.T) {
	h := startIngress(t, baseConfig())
	h.post(delivery{body: loadSamples(t)[0].body, secret: secretNew})
	h.post(delivery{body: []byte("{}"), secret: secretOther})
	for path, want := range map[string]int{"/status": 200, "/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, body := h.post(delivery{method: http.MethodGet, path: path})
		if resp.StatusCode != want {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/status" && !strings.Contains(body, `"status":"ok","version":"`) {
			t.Errorf("/status body %q, want the build's version", body)
		}
		if path == "/metrics" {
			for _, m := range []string{
				`accessbridge_webhook_ingress_deliveries_total{code="200",result="published"} 1`,
				`accessbridge_webhook_ingress_deliveries_total{code="401",result="unauthorized"} 1`,
				`accessbridge_webhook_ingress_delivery_seconds_bucket`,
				`accessbridge_webhook_ingress_insecure{mode="no_tls"} 1`,
				`accessbridge_webhook_ingress_insecure{mode="no_auth"} 0`,
			} {
				mustContain(t, body, m)
			}
		}
	}
	if resp, _ := h.post(delivery{method: http.MethodPost, path: "/status"}); resp.StatusCode != 405 {
		t.Fatalf("POST /status: %d", resp.StatusCode)
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	h := startIngress(t, baseConfig())
	body := loadSamples(t)[0].body
	const n = 64
	errs := make(chan error, n)
	for i := range n {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, h.url+"/webhook", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Hub-Signature", sign(secretNew, body))
			req.Header.Set("X-Atlassian-Webhook-Identifier", fmt.Sprint("c-", i%16))
			resp, err := h.client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := h.count(); got != 16 {
		t.Fatalf("published %d, want 16 distinct deliveries", got)
	}
}

func TestHeaderLimitAndProbes(t *testing.T) {
	cfg := baseConfig()
	cfg.MaxHeaderBytes = 4 << 10
	h := startIngress(t, cfg)
	resp, _ := h.post(delivery{body: loadSamples(t)[0].body, secret: secretNew, header: http.Header{"X-Padding": {strings.Repeat("a", 16<<10)}}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KiB header: %d", resp.StatusCode)
	}
	if resp, _ := h.post(delivery{method: http.MethodHead, path: "/healthz"}); resp.StatusCode != 200 {
		t.Fatalf("HEAD /healthz: %d", resp.StatusCode)
	}
	if n := h.count(); n != 0 {
		t.Fatalf("published %d", n)
	}
}

func TestInsecureNoAuthIsLoud(t *testing.T) {
	h := startIngress(t, Config{Addr: "127.0.0.1:0", InsecureNoTls: true, InsecureNoAuth: true})
	mustContain(t, h.logs.String(), "INSECURE: WEBHOOK_INGRESS_INSECURE_NO_AUTH=true")
	if resp, b := h.post(delivery{body: loadSamples(t)[0].body}); resp.StatusCode != 200 {
		t.Fatalf("unauthenticated delivery: %d %s", resp.StatusCode, b)
	}
	got := h.published()
	if w := got[0].Payload.(*events.Webhook); w.Signed || strings.Join(w.Auth, ",") != events.AuthNone {
		t.Fatalf("signed %v auth %v", w.Signed, w.Auth)
	}
	_, metrics := h.post(delivery{method: http.MethodGet, path: "/metrics"})
	mustContain(t, metrics, `accessbridge_webhook_ingress_insecure{mode="no_auth"} 1`)
}
