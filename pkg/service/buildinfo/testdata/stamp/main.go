// Command stamp prints its build information; the test builds it with and
// without -ldflags.
package main

import (
	"fmt"

	"github.com/accessbridge/accessbridge/pkg/service/buildinfo"
)

func main() { fmt.Println(buildinfo.Get().String()) }
