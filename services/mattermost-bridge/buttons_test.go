package mattermostbridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/bus/bustest"
	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/pkg/service/config"
	mattermostbridge "github.com/accessbridge/accessbridge/services/mattermost-bridge"
	mmsim "github.com/accessbridge/accessbridge/sim/mattermost"
)

const buttonKey = "0123456789abcdef0123456789abcdef-test-key"

func (e *env) buttonConfig() mattermostbridge.Config {
	cfg := e.config()
	cfg.Buttons, cfg.ButtonURL, cfg.ButtonKey = true, "https://ingress.example.com/mattermost/actions", config.Secret(buttonKey)
	cfg.ButtonUsers = `{"bob": "bob-teleport"}`
	return cfg
}

// startLogged runs a bridge whose log (info and up) is kept.
func (e *env) startLogged(cfg mattermostbridge.Config, logs *bustest.LogBuffer) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.New(logs)
	b := e.nats.ConnectLogged(e.t, "mattermost-bridge", log)
	svc, err := mattermostbridge.New(ctx, cfg, mattermostbridge.Deps{Bus: b, Log: log})
	if err != nil {
		cancel()
		e.t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// buttons returns the actions of a post's attachments.
func buttons(p mmsim.Post) []map[string]any {
	var out []map[string]any
	atts, _ := p.Props["attachments"].([]any)
	for _, a := range atts {
		acts, _ := a.(map[string]any)["actions"].([]any)
		for _, x := range acts {
			out = append(out, x.(map[string]any))
		}
	}
	return out
}

func TestButtonsOffByDefault(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	e.start(e.config(), "b1")
	r := request("req-nobuttons")
	e.publish(events.NewRequestCreated(r))
	dm, town := e.channels()
	eventually(t, 10*time.Second, "posts", func() bool { return len(e.posts(r.ID)) == 2 })
	for _, ch := range []string{dm, town} {
		for _, p := range e.posts(r.ID)[ch] {
			if _, has := p.Props["attachments"]; has || len(buttons(p)) != 0 {
				t.Fatalf("buttons off, yet the post in %s has attachments: %v", ch, p.Props)
			}
		}
	}
}

// TestButtonClicksBecomeDecisions: with buttons on, each pending post
// carries Approve and Deny with the ingress URL and a token bound to its
// request, channel and verdict; an allow-listed user's click becomes a
// decision for the mapped Teleport user; an unmapped user's click, and a
// click naming a post that is not the request's, produce nothing and are
// logged as security events; the resolved post loses its buttons.
func TestButtonClicksBecomeDecisions(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	logs := &bustest.LogBuffer{}
	e.startLogged(e.buttonConfig(), logs)
	r := request("req-buttons")
	e.publish(events.NewRequestCreated(r))
	dm, town := e.channels()
	eventually(t, 10*time.Second, "posts", func() bool { return len(e.posts(r.ID)) == 2 })

	for _, ch := range []string{dm, town} {
		p := e.posts(r.ID)[ch][0]
		bs := buttons(p)
		if len(bs) != 2 || bs[0]["id"] != "approve" || bs[1]["id"] != "deny" || bs[0]["type"] != "button" {
			t.Fatalf("buttons of the post in %s: %v", ch, bs)
		}
		for _, b := range bs {
			integ := b["integration"].(map[string]any)
			c := integ["context"].(map[string]any)
			if integ["url"] != "https://ingress.example.com/mattermost/actions" || c["request_id"] != r.ID || c["action"] != b["id"] {
				t.Fatalf("button %v", b)
			}
			tok, _ := c["token"].(string)
			if !events.CheckButtonToken([]byte(buttonKey), tok, r.ID, ch, events.Verdict(b["id"].(string))) {
				t.Fatalf("token of %s in %s does not verify", b["id"], ch)
			}
			if other := map[string]string{dm: town, town: dm}[ch]; events.CheckButtonToken([]byte(buttonKey), tok, r.ID, other, events.Verdict(b["id"].(string))) {
				t.Fatal("a token verifies for another channel")
			}
		}
	}
	townPost := e.posts(r.ID)[town][0]
	alice, _ := e.mm.UserByEmail("alice@example.com")
	bob, _ := e.mm.UserByEmail("bob@example.com")
	click := func(u mmsim.User, postID, trigger string) {
		e.publish(&events.MattermostAction{RequestID: r.ID, Verdict: events.VerdictApprove, UserID: u.ID, UserName: u.Username,
			ChannelID: town, PostID: postID, TriggerID: trigger, ReceivedAt: time.Now().UTC()})
	}
	click(alice, townPost.ID, "t1")                // not on the allow-list
	click(bob, "zzzzzzzzzzzzzzzzzzzzzzzzzz", "t2") // not a post of the request
	click(bob, townPost.ID, "t3")                  // allowed

	ctx := context.Background()
	st, err := e.bus.JS.Stream(ctx, events.StreamMattermost)
	if err != nil {
		t.Fatal(err)
	}
	subj := events.MattermostDecisionSubject(r.ID)
	var msg *jetstream.RawStreamMsg
	eventually(t, 10*time.Second, "the decision", func() bool {
		msg, err = st.GetLastMsgForSubject(ctx, subj)
		return err == nil
	})
	ev, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	d := ev.Payload.(*events.Decision)
	if d.Mattermost == nil || d.Mattermost.TeleportUser != "bob-teleport" || d.Actor.AccountID != bob.ID || d.Verdict != events.VerdictApprove ||
		d.Mattermost.PostID != townPost.ID || d.Verification != events.VerifiedButtonToken {
		t.Fatalf("decision %+v", d)
	}
	// Events of one subject are handled in order: bob's decision means the
	// two refused clicks were handled before it, and produced nothing.
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.SubjectMattermostDecisions+".>"))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[subj]; n != 1 {
		t.Fatalf("%d decisions on %s, want 1", n, subj)
	}
	l := logs.String()
	for _, want := range []string{`"event":"unmapped_mattermost_user"`, `"event":"unknown_post"`} {
		if !strings.Contains(l, want) || !strings.Contains(l, `"security":true`) {
			t.Fatalf("no security event %s in the log:\n%s", want, l)
		}
	}
	if strings.Contains(l, buttonKey) {
		t.Fatal("the button key reached the log")
	}

	r.State, r.ResolveReason = events.StateApproved, "Approved in Mattermost by @bob"
	e.publish(events.NewRequestResolved(r))
	eventually(t, 10*time.Second, "the posts updated without buttons", func() bool {
		for _, ch := range []string{dm, town} {
			p := e.posts(r.ID)[ch][0]
			if !strings.Contains(p.Message, "APPROVED") || !strings.Contains(p.Message, "Mattermost by @") || len(buttons(p)) != 0 {
				return false
			}
		}
		return true
	})
}

func TestButtonConfigChecks(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	for name, mut := range map[string]func(c *mattermostbridge.Config){
		"no url":         func(c *mattermostbridge.Config) { c.ButtonURL = "" },
		"short key":      func(c *mattermostbridge.Config) { c.ButtonKey = "short" },
		"comma in key":   func(c *mattermostbridge.Config) { c.ButtonKey = config.Secret(buttonKey + "," + buttonKey) },
		"no users":       func(c *mattermostbridge.Config) { c.ButtonUsers = "" },
		"empty list":     func(c *mattermostbridge.Config) { c.ButtonUsers = "{}" },
		"empty teleport": func(c *mattermostbridge.Config) { c.ButtonUsers = `{"bob":""}` },
	} {
		cfg := e.buttonConfig()
		mut(&cfg)
		if err := cfg.CheckAndSetDefaults(); err == nil || !strings.Contains(err.Error(), "MATTERMOST_BRIDGE_BUTTON") {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg := e.buttonConfig()
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
}

// TestClickOnPostNotYetRecordedWaits: a click on a post whose id is not in
// the record yet (the bridge posted, the record follows) is retried, not
// dropped — the same click again would be a duplicate — and becomes a
// decision once the record names the post.
func TestClickOnPostNotYetRecordedWaits(t *testing.T) {
	e := newEnv(t, mmsim.Options{})
	e.startLogged(e.buttonConfig(), &bustest.LogBuffer{})
	const id, town, post = "req-inflight", "chan0000000000000000000000", "post0000000000000000000000"
	intent := events.MattermostPost{Recipient: "myteam/town-square", ChannelID: town, IntentAt: time.Now().UTC()}
	e.publish(events.NewMattermostPosts(id, 1, "intent", []events.MattermostPost{intent}))
	bob, _ := e.mm.UserByEmail("bob@example.com")
	e.publish(&events.MattermostAction{RequestID: id, Verdict: events.VerdictDeny, UserID: bob.ID, UserName: "bob",
		ChannelID: town, PostID: post, ReceivedAt: time.Now().UTC()})

	ctx := context.Background()
	st, err := e.bus.JS.Stream(ctx, events.StreamMattermost)
	if err != nil {
		t.Fatal(err)
	}
	decided := func() bool {
		_, err := st.GetLastMsgForSubject(ctx, events.MattermostDecisionSubject(id))
		return err == nil
	}
	// Retried while the record has only the intent (the retry delay is
	// 20–300 ms; a second of retries must not produce a decision).
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if decided() {
			t.Fatal("decided on a post the record does not name")
		}
		time.Sleep(50 * time.Millisecond)
	}
	intent.PostID = post
	e.publish(events.NewMattermostPosts(id, 2, "posted", []events.MattermostPost{intent}))
	eventually(t, 10*time.Second, "the decision once the post is recorded", decided)
}
