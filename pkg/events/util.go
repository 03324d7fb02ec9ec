package events

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

func sortStrings(s []string) { sort.Strings(s) }

// checkLen checks that a free-text field is valid UTF-8 and at most max bytes.
func checkLen(field, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s: is %d bytes, over the %d byte limit", field, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s: is not valid UTF-8", field)
	}
	return nil
}

func required(field, v string, max int) error {
	if v == "" {
		return fmt.Errorf("%s: must not be empty", field)
	}
	return checkLen(field, v, max)
}

func token(field, v string) error {
	if err := ValidToken(v); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}
