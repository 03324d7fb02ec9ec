package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
)

// TestExitCodes runs the built command against a healthy and an unhealthy
// endpoint.
func TestExitCodes(t *testing.T) {
	bin := t.TempDir() + "/healthcheck"
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": 0, "/readyz": 1} {
		err := exec.Command(bin, srv.URL+path).Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Errorf("%s: exit %d, want %d", path, code, want)
		}
	}
	if err := exec.Command(bin).Run(); err == nil {
		t.Error("no argument: exit 0")
	}
	_ = os.Remove(bin)
}
