package teleportsim_test

import (
	"context"

	apiutils "github.com/gravitational/teleport/api/utils"
)

func apiutilsWithDelegator(ctx context.Context, d string) context.Context {
	return apiutils.WithDelegator(ctx, d)
}
