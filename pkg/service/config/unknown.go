package config

import (
	"fmt"
	"sort"
	"strings"
)

// Unknown is a variable that carries a settings prefix but is not a
// setting: most likely a typo, which would otherwise be silently ignored.
type Unknown struct {
	Name string
	// Closest is the known setting nearest to Name (edit distance), or ""
	// when none is near enough to be a plausible typo.
	Closest string
}

func (u Unknown) String() string {
	if base, ok := strings.CutSuffix(u.Name, "_FILE"); ok && u.Closest == base {
		return fmt.Sprintf("%s is not a setting: only secrets can be read from a file; set %s itself", u.Name, base)
	}
	if u.Closest != "" {
		return fmt.Sprintf("%s is not a setting (a typo?); did you mean %s?", u.Name, u.Closest)
	}
	return fmt.Sprintf("%s is not a setting; remove it (`configure` lists every setting)", u.Name)
}

// FindUnknown returns the variables of environ ("NAME=value" entries, as
// os.Environ) whose name starts with one of prefixes (each including its
// trailing "_") and is not in known, sorted by name.
func FindUnknown(environ []string, prefixes []string, known map[string]bool) []Unknown {
	var out []Unknown
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if known[name] {
			continue
		}
		matched := false
		for _, p := range prefixes {
			matched = matched || strings.HasPrefix(name, p)
		}
		if !matched {
			continue
		}
		out = append(out, Unknown{Name: name, Closest: closest(name, known)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// closest returns the known name nearest to name when it is near enough to
// be a typo of it: within a third of the name's length, at least 2 edits.
func closest(name string, known map[string]bool) string {
	if base, ok := strings.CutSuffix(name, "_FILE"); ok && known[base] {
		return base
	}
	best, bestD := "", -1
	for k := range known {
		d := Levenshtein(name, k)
		if bestD < 0 || d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	limit := len(name) / 3
	if limit < 2 {
		limit = 2
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// Levenshtein is the edit distance between a and b (insertions, deletions
// and substitutions of bytes; the names compared are ASCII).
func Levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
