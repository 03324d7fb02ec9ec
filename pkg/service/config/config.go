// Package config loads a service's settings from the environment with
// kelseyhightower/envconfig, adds *_FILE variants for secrets, and lists the
// variables it reads so that docs and the `configure` command come from the
// code.
//
// Fields are named by envconfig's split_words rule (PREFIX_FIELD_NAME); give
// every field `split_words:"true"` and no explicit `envconfig` tag — an
// explicit tag makes envconfig fall back to the unprefixed name when the
// prefixed one is unset, which would read a stray variable.
package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Secret is a string that never prints: String, MarshalText and MarshalJSON
// all redact it. Read it with Value. A Secret field FOO can also be given as
// FOO_FILE, a path whose content (trailing newline trimmed) is the value.
type Secret string

// Redacted is what a Secret prints as.
const Redacted = "[REDACTED]"

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer, so %#v does not leak it either.
func (s Secret) GoString() string { return s.String() }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Var describes one environment variable a spec reads.
type Var struct {
	Name        string
	Type        string
	Default     string
	Required    bool
	Secret      bool
	Description string
	// Min is the min tag: "0" allows zero where the description does not
	// say what zero does.
	Min   string
	field reflect.Value
}

// Vars lists the variables spec reads under prefix, in field order, exactly
// as envconfig names them. spec must be a pointer to a struct.
func Vars(prefix string, spec any) ([]Var, error) {
	var out []Var
	collect := func(info any) string {
		v := reflect.ValueOf(info)
		field := v.FieldByName("Field").Interface().(reflect.Value)
		tags := v.FieldByName("Tags").Interface().(reflect.StructTag)
		if field.Kind() == reflect.Struct && !implementsDecoding(field) {
			return "" // a nested section; its fields follow
		}
		out = append(out, Var{
			Name:        v.FieldByName("Key").String(),
			Type:        typeName(field),
			Default:     tags.Get("default"),
			Required:    tags.Get("required") == "true",
			Secret:      field.Type() == reflect.TypeOf(Secret("")),
			Description: tags.Get("desc"),
			Min:         tags.Get("min"),
			field:       field,
		})
		return ""
	}
	tmpl := template.Must(template.New("vars").Funcs(template.FuncMap{"collect": collect}).
		Parse(`{{range .}}{{collect .}}{{end}}`))
	if err := envconfig.Usaget(prefix, spec, &bytes.Buffer{}, tmpl); err != nil {
		return nil, fmt.Errorf("describe %s settings: %w", prefix, err)
	}
	return out, nil
}

func implementsDecoding(v reflect.Value) bool {
	if !v.CanAddr() {
		return false
	}
	p := v.Addr().Interface()
	_, d := p.(envconfig.Decoder)
	_, s := p.(envconfig.Setter)
	_, t := p.(interface{ UnmarshalText([]byte) error })
	return d || s || t
}

func typeName(v reflect.Value) string {
	switch {
	case v.Type() == reflect.TypeOf(Secret("")):
		return "secret"
	case v.Type().String() == "time.Duration":
		return "duration"
	case v.Kind() == reflect.Slice:
		return "list"
	case v.Kind() == reflect.Map:
		return "map"
	}
	return v.Kind().String()
}

// Load fills spec from the environment: defaults, then PREFIX_* variables,
// then *_FILE for secrets. It reports every problem at once (a Problems
// error), each naming the variable and saying how to fix it. A variable with
// a bad value is left at its default, so the checks that follow see a
// complete configuration.
//
// Numbers and durations must not be negative, and must be more than zero
// unless zero means something for that setting: its default is 0, its
// description says what 0 does, or its tag says min:"0".
func Load(prefix string, spec any) error {
	vars, err := Vars(prefix, spec)
	if err != nil {
		return err
	}
	var p Problems
	for _, v := range vars {
		raw, set := os.LookupEnv(v.Name)
		if set && raw == "" && !emptyIsAValue(v.field) {
			set = false // an empty number, duration or bool means "the default"
		}
		if !set {
			if v.Default != "" {
				if err := assign(v.field, v.Default); err != nil {
					return fmt.Errorf("%s: default %q: %w", v.Name, v.Default, err) // a programming error
				}
			}
		} else if err := assign(v.field, raw); err != nil {
			p.Add(fmt.Errorf("%s=%q: %s", v.Name, raw, plain(err, v)))
			if v.Default != "" {
				_ = assign(v.field, v.Default)
			}
		} else if msg := checkRange(v); msg != "" {
			p.Add(fmt.Errorf("%s=%q: %s", v.Name, raw, msg))
			if v.Default != "" {
				_ = assign(v.field, v.Default)
			}
		}
		if v.Secret {
			if path, ok := os.LookupEnv(v.Name + "_FILE"); ok && path != "" {
				if set && raw != "" {
					p.Add(fmt.Errorf("%s and %s_FILE are both set: set %s, or %s_FILE (a file holding it), not both", v.Name, v.Name, v.Name, v.Name))
					continue
				}
				b, err := os.ReadFile(path)
				if err != nil {
					p.Add(fmt.Errorf("%s_FILE=%q: %s", v.Name, path, fileProblem(err)))
					continue
				}
				v.field.SetString(strings.TrimRight(string(b), "\r\n"))
				continue
			}
		}
		if v.Required && v.field.IsZero() {
			hint := ""
			if v.Secret {
				hint = fmt.Sprintf(" (or %s_FILE, a file holding it)", v.Name)
			}
			p.Add(fmt.Errorf("%s is required and not set%s: %s", v.Name, hint, strings.TrimSpace(v.Description)))
		}
	}
	return p.Err()
}

// emptyIsAValue says whether VAR= (set, empty) is a value of its own for
// this field: for strings, lists and maps it is (an empty address can
// disable a listener); for numbers, durations and booleans it means the
// default.
func emptyIsAValue(f reflect.Value) bool {
	switch f.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return true
	}
	return false
}

var durationType = reflect.TypeOf(time.Duration(0))

// assign parses raw into f the way envconfig does: lists and maps are
// comma-separated, map entries key:value.
func assign(f reflect.Value, raw string) error {
	if f.CanAddr() {
		switch d := f.Addr().Interface().(type) {
		case envconfig.Decoder:
			return d.Decode(raw)
		case envconfig.Setter:
			return d.Set(raw)
		case encoding.TextUnmarshaler:
			return d.UnmarshalText([]byte(raw))
		}
	}
	if f.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errDuration
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errBool
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 0, f.Type().Bits())
		if err != nil {
			return errInt
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 0, f.Type().Bits())
		if err != nil {
			return errInt
		}
		f.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(raw, f.Type().Bits())
		if err != nil {
			return errFloat
		}
		f.SetFloat(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", f.Type())
		}
		var items []string
		if strings.TrimSpace(raw) != "" {
			items = strings.Split(raw, ",")
		}
		f.Set(reflect.ValueOf(items).Convert(f.Type()))
	case reflect.Map:
		if f.Type().Key().Kind() != reflect.String || f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported map type %s", f.Type())
		}
		m := reflect.MakeMap(f.Type())
		if strings.TrimSpace(raw) != "" {
			for _, pair := range strings.Split(raw, ",") {
				k, v, ok := strings.Cut(pair, ":")
				if !ok {
					return fmt.Errorf("entry %q is not key:value; write key:value pairs separated by commas", pair)
				}
				m.SetMapIndex(reflect.ValueOf(k).Convert(f.Type().Key()), reflect.ValueOf(v).Convert(f.Type().Elem()))
			}
		}
		f.Set(m)
	default:
		return fmt.Errorf("unsupported setting type %s", f.Type())
	}
	return nil
}

var (
	errDuration = errors.New("not a duration")
	errBool     = errors.New("not a boolean")
	errInt      = errors.New("not a whole number")
	errFloat    = errors.New("not a number")
)

// plain turns a parse error into words an operator can act on.
func plain(err error, v Var) string {
	example := v.Default
	switch {
	case errors.Is(err, errDuration):
		if _, numErr := strconv.ParseFloat(strings.TrimSpace(os.Getenv(v.Name)), 64); numErr == nil {
			return fmt.Sprintf("not a duration; write it with a unit, e.g. %sm (units: ms, s, m, h)", strings.TrimSpace(os.Getenv(v.Name)))
		}
		if example == "" || example == "0" {
			example = "30s"
		}
		return fmt.Sprintf("not a duration; write a number with a unit, e.g. %s (units: ms, s, m, h)", example)
	case errors.Is(err, errBool):
		return "write true or false"
	case errors.Is(err, errInt):
		if example == "" {
			example = "10"
		}
		return fmt.Sprintf("not a whole number; write digits only, e.g. %s", example)
	case errors.Is(err, errFloat):
		if example == "" {
			example = "1.5"
		}
		return fmt.Sprintf("not a number, e.g. %s", example)
	}
	return err.Error()
}

// mentionsZero finds a description that says what 0 does ("0 disables",
// "(0: no limit)").
var mentionsZero = regexp.MustCompile(`(^|[^0-9.])0([^0-9.]|$)`)

// zeroAllowed says whether 0 means something for v.
func zeroAllowed(v Var) bool {
	switch v.Default {
	case "0", "0s":
		return true
	}
	return v.Min == "0" || mentionsZero.MatchString(v.Description)
}

// checkRange returns what is wrong with a parsed number or duration, or "".
func checkRange(v Var) string {
	var sign int
	switch f := v.field; {
	case f.Type() == durationType, f.Kind() >= reflect.Int && f.Kind() <= reflect.Int64:
		switch n := f.Int(); {
		case n < 0:
			sign = -1
		case n == 0:
			sign = 0
		default:
			return ""
		}
	case f.Kind() >= reflect.Uint && f.Kind() <= reflect.Uint64:
		if f.Uint() != 0 {
			return ""
		}
	case f.Kind() == reflect.Float32 || f.Kind() == reflect.Float64:
		switch n := f.Float(); {
		case n < 0:
			sign = -1
		case n == 0:
			sign = 0
		default:
			return ""
		}
	default:
		return ""
	}
	def := ""
	if v.Default != "" {
		def = fmt.Sprintf(" (the default is %s)", v.Default)
	}
	if sign < 0 {
		if zeroAllowed(v) {
			return "must not be negative; use 0 for what the description says 0 does" + def
		}
		return "must not be negative" + def
	}
	if zeroAllowed(v) {
		return ""
	}
	return "must be more than 0" + def
}

// fileProblem says why a *_FILE could not be read, in words.
func fileProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file; write the secret to that path or correct the path"
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("permission denied; make the file readable by the user this runs as (uid %d)", os.Getuid())
	}
	return err.Error()
}

// Problems is every problem found in a configuration; Error joins them, and
// Unwrap lets errors.Is/As and the printers see each one.
type Problems []error

// Add appends err, flattening joined errors; nil is ignored.
func (p *Problems) Add(err error) {
	if err == nil {
		return
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			p.Add(e)
		}
		return
	}
	*p = append(*p, err)
}

// Err returns p as an error, or nil when there is no problem.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return p
}

func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the problems one by one.
func (p Problems) Unwrap() []error { return p }

// List flattens err (joined errors, Problems) into its single problems.
func List(err error) []error {
	var p Problems
	p.Add(err)
	return p
}

// Markdown renders the variables as a Markdown table, for the README.
func Markdown(vars []Var) string {
	var b strings.Builder
	b.WriteString("| Variable | Type | Default | Description |\n|---|---|---|---|\n")
	for _, v := range vars {
		desc := v.Description
		if v.Required {
			desc = "**Required.** " + desc
		}
		if v.Secret {
			desc += fmt.Sprintf(" Secret: may be given as `%s_FILE`.", v.Name)
		}
		def := ""
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, v.Type, def, strings.TrimSpace(desc))
	}
	return b.String()
}

// Hint is how `configure` shows one setting a user must provide: a
// placeholder value and a line on what to put there or instead.
type Hint struct {
	Name, Placeholder, Note string
}

// RequiredExample renders the settings a user must fill in, uncommented
// with placeholders, for the top of `configure`.
func RequiredExample(hints []Hint) string {
	var b strings.Builder
	for _, h := range hints {
		if h.Note != "" {
			fmt.Fprintf(&b, "# %s\n", h.Note)
		}
		fmt.Fprintf(&b, "%s=%s\n\n", h.Name, h.Placeholder)
	}
	return b.String()
}

// Example renders the variables as a commented env file, for `configure`:
// each with its description, type and default, commented out. Variables in
// skip (already shown as required) are left out; notes add a line to a
// variable's description.
func Example(title string, vars []Var, skip map[string]bool, notes map[string]string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# --- %s\n", title)
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	for _, v := range vars {
		if skip[v.Name] {
			continue
		}
		fmt.Fprintf(w, "\n# %s (%s)", v.Description, v.Type)
		if v.Required {
			fmt.Fprint(w, " — required")
		}
		if n := notes[v.Name]; n != "" {
			fmt.Fprintf(w, "\n# %s", n)
		}
		if v.Secret {
			fmt.Fprintf(w, "\n# Secret: prefer %s_FILE=/path/to/file", v.Name)
		}
		fmt.Fprintln(w)
		if v.Required {
			fmt.Fprintf(w, "%s=%s\n", v.Name, v.Default)
		} else {
			fmt.Fprintf(w, "#%s=%s\n", v.Name, v.Default)
		}
	}
	_ = w.Flush()
	return b.String()
}
