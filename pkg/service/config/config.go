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
	"fmt"
	"os"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"

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
	field       reflect.Value
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
// then *_FILE for secrets. Errors name the variable to fix.
func Load(prefix string, spec any) error {
	if err := envconfig.Process(prefix, spec); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	vars, err := Vars(prefix, spec)
	if err != nil {
		return err
	}
	for _, v := range vars {
		if v.Required && v.field.IsZero() && os.Getenv(v.Name+"_FILE") == "" {
			return fmt.Errorf("configuration: %s is required and empty", v.Name)
		}
		if !v.Secret {
			continue
		}
		path, ok := os.LookupEnv(v.Name + "_FILE")
		if !ok || path == "" {
			continue
		}
		if direct, ok := os.LookupEnv(v.Name); ok && direct != "" {
			return fmt.Errorf("configuration: set %s or %s_FILE, not both", v.Name, v.Name)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("configuration: %s_FILE: %w", v.Name, err)
		}
		v.field.SetString(strings.TrimRight(string(b), "\r\n"))
	}
	return nil
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

// Example renders the variables as a commented env file, for `configure`.
func Example(title string, vars []Var) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n", title)
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	for _, v := range vars {
		fmt.Fprintf(w, "\n# %s (%s)", v.Description, v.Type)
		if v.Required {
			fmt.Fprint(w, " — required")
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
