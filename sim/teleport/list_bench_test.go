package teleportsim_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gravitational/teleport/api/types"

	teleportsim "github.com/accessbridge/accessbridge/sim/teleport"
)

// BenchmarkListAllAccessRequests is the listing a bridge makes when it
// connects or its watch stream closed: every request, in pages of the
// emulator's default size, over gRPC with mTLS, as teleport/api's
// GetAccessRequests asks for them.
func BenchmarkListAllAccessRequests(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("requests=%d", n), func(b *testing.B) {
			srv := teleportsim.Start(b, teleportsim.Options{})
			clt := connect(b, srv, teleportsim.UserAccessPlugin)
			for range n {
				mustCreate(b, srv, teleportsim.UserRequester)
			}
			ctx := context.Background()
			for b.Loop() {
				reqs, err := clt.GetAccessRequests(ctx, types.AccessRequestFilter{})
				if err != nil || len(reqs) != n {
					b.Fatalf("listed %d of %d requests: %v", len(reqs), n, err)
				}
			}
		})
	}
}
