package jira

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzErrorText: whatever Jira (or a proxy in front of it) answers, the
// text put into logs and dead letters is non-empty, valid UTF-8, bounded,
// and the same for the same answer.
func FuzzErrorText(f *testing.F) {
	for _, s := range []string{
		`{"errorMessages":["Issue does not exist"],"errors":{}}`,
		`{"errorMessages":[],"errors":{"summary":"too long","customfield_10050":"not on screen"}}`,
		`{"message":"Client must be authenticated"}`,
		`<html>502 Bad Gateway</html>`, ``, "\xff\xfe",
		`{"errorMessAges":[""]}`, // found by the fuzzer: an empty message made an empty text
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := errorText(raw)
		if got == "" || !utf8.ValidString(got) {
			t.Fatalf("errorText(%q) = %q", raw, got)
		}
		if again := errorText(raw); again != got {
			t.Fatalf("errorText is not deterministic: %q vs %q", got, again)
		}
		if !strings.HasPrefix(strings.TrimSpace(string(raw)), "{") && utf8.RuneCountInString(got) > 301 {
			t.Fatalf("errorText of a non-JSON answer is %d runes long", utf8.RuneCountInString(got))
		}
	})
}
