package decide_test

import (
	"context"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/types"
	"github.com/rs/zerolog"

	"github.com/accessbridge/accessbridge/pkg/events"
	"github.com/accessbridge/accessbridge/services/teleport-bridge/internal/decide"
	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

func mmDecision(id, teleportUser string) events.Decision {
	a := &events.MattermostAction{RequestID: id, Verdict: events.VerdictApprove, UserID: "kx8ncbx1i3bfzm9ryxn7hbpnfr", UserName: "bob",
		ChannelID: "4xp9fdt77pncbef59f4k1qe83o", PostID: "ua3wzahbjpgwxbhbkbhk5xbs9c", ReceivedAt: time.Now()}
	return *events.NewMattermostDecision(a, teleportUser, a.ReceivedAt)
}

// TestMattermostDecisionPolicy: a Mattermost decision needs no issue link;
// it is refused when Mattermost decisions are off or, in state mode, when
// its Teleport user is not a listed state reviewer; a listed one applies it
// once (a redelivery is recognised).
func TestMattermostDecisionPolicy(t *testing.T) {
	srv := teleportsim.Start(t, teleportsim.Options{})
	conn := dial(t, srv, teleportsim.UserAccessPlugin)
	id, err := srv.CreateRequest(teleportsim.UserRequester, []string{"editor"}, "")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mm   decide.Mattermost
		want events.RejectCode
	}{
		{"off", decide.Mattermost{}, events.RejectRefused},
		{"unlisted", decide.Mattermost{Enabled: true, StateReviewers: []string{"carol"}}, events.RejectUnmappedActor},
	}
	for _, c := range cases {
		d := decide.New(decide.Config{Client: conn, Links: links{}, Mode: events.ModeState, Mattermost: c.mm})
		out, err := d.Decide(context.Background(), mmDecision(id, "bob"), time.Now(), zerolog.Nop())
		if err != nil || out.Kind != events.DecisionRejected || out.Code != c.want {
			t.Fatalf("%s: %+v %v", c.name, out, err)
		}
	}
	if r, _ := srv.Request(id); r.GetState() != types.RequestState_PENDING {
		t.Fatalf("a refused decision changed the request: %v", r.GetState())
	}
	d := decide.New(decide.Config{Client: conn, Links: links{}, Mode: events.ModeState,
		Mattermost: decide.Mattermost{Enabled: true, StateReviewers: []string{"bob"}}})
	for i := range 2 {
		out, err := d.Decide(context.Background(), mmDecision(id, "bob"), time.Now(), zerolog.Nop())
		if err != nil || out.Kind != events.DecisionApplied || out.AppliedAs != "mattermost:bob" || out.RequestState != events.StateApproved {
			t.Fatalf("attempt %d: %+v %v", i, out, err)
		}
	}
}
