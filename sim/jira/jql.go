package jirasim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// This file holds a small JQL parser and evaluator: clauses on project, key,
// labels, status, statusCategory, issuetype, summary/description/text,
// reporter/creator, resolution, created/updated and custom fields (cf[NNNNN]
// or their name), joined by AND, OR, NOT and parentheses, and ORDER BY.
// Anything else is rejected with Jira's error messages.

// jqlError is a JQL error, answered as 400 with errorMessages.
type jqlError struct{ msg string }

func (e *jqlError) Error() string { return e.msg }

func jqlErrorf(format string, args ...any) error {
	return &jqlError{msg: fmt.Sprintf(format, args...)}
}

type tokenKind int

const (
	tokWord tokenKind = iota
	tokString
	tokOp
	tokLParen
	tokRParen
	tokComma
	tokEOF
)

type token struct {
	kind tokenKind
	text string
	pos  int // 1-based character position
}

func (t token) is(keyword string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, keyword)
}

func (t token) String() string {
	if t.kind == tokEOF {
		return "EOF"
	}
	return t.text
}

func tokenize(q string) ([]token, error) {
	var toks []token
	rs := []rune(q)
	for i := 0; i < len(rs); {
		r := rs[i]
		pos := i + 1
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			toks = append(toks, token{tokLParen, "(", pos})
			i++
		case r == ')':
			toks = append(toks, token{tokRParen, ")", pos})
			i++
		case r == ',':
			toks = append(toks, token{tokComma, ",", pos})
			i++
		case r == '"' || r == '\'':
			var sb strings.Builder
			j := i + 1
			for ; j < len(rs) && rs[j] != r; j++ {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				sb.WriteRune(rs[j])
			}
			if j >= len(rs) {
				return nil, jqlErrorf("Error in the JQL Query: The quoted string '%s' has not been completed. (line 1, character %d)", string(rs[i:]), pos)
			}
			toks = append(toks, token{tokString, sb.String(), pos})
			i = j + 1
		case r == '=' || r == '~':
			toks = append(toks, token{tokOp, string(r), pos})
			i++
		case r == '!' || r == '<' || r == '>':
			if i+1 < len(rs) && (rs[i+1] == '=' || (r == '!' && rs[i+1] == '~')) {
				toks = append(toks, token{tokOp, string(rs[i : i+2]), pos})
				i += 2
			} else if r == '!' {
				return nil, jqlErrorf("Error in the JQL Query: The character '!' is a reserved JQL character. You must enclose it in a string or use the escape '\\u0021' instead. (line 1, character %d)", pos)
			} else {
				toks = append(toks, token{tokOp, string(r), pos})
				i++
			}
		default:
			j := i
			for j < len(rs) && !unicode.IsSpace(rs[j]) && !strings.ContainsRune(`()=,!~<>"'`, rs[j]) {
				j++
			}
			toks = append(toks, token{tokWord, string(rs[i:j]), pos})
			i = j
		}
	}
	return append(toks, token{tokEOF, "", len(rs) + 1}), nil
}

// jqlQuery is a parsed query: a condition (nil: all issues) and an order.
type jqlQuery struct {
	where   cond
	orderBy []orderKey
}

type orderKey struct {
	field string
	desc  bool
}

// cond is a compiled JQL condition.
type cond func(c *evalCtx) bool

// evalCtx is what a condition sees of one issue.
type evalCtx struct {
	iss    *issue
	status Status
	now    time.Time
}

type parser struct {
	s    *Server
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

// parseJQL parses q; now anchors relative dates.
func (s *Server) parseJQL(q string) (*jqlQuery, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	p := &parser{s: s, toks: toks}
	out := &jqlQuery{}
	if t := p.peek(); t.kind != tokEOF && !t.is("order") {
		if out.where, err = p.parseOr(); err != nil {
			return nil, err
		}
	}
	if t := p.peek(); t.is("order") {
		p.next()
		if !p.next().is("by") {
			return nil, jqlErrorf("Error in the JQL Query: Expecting 'by' but got '%s'. (line 1, character %d)", p.toks[p.i-1], p.toks[p.i-1].pos)
		}
		for {
			f := p.next()
			if f.kind != tokWord && f.kind != tokString {
				return nil, jqlErrorf("Error in the JQL Query: Expecting a field name but got '%s'. (line 1, character %d)", f, f.pos)
			}
			field, ok := s.orderField(f.text)
			if !ok {
				return nil, jqlErrorf("Not able to sort using field '%s'.", f.text)
			}
			k := orderKey{field: field}
			if t := p.peek(); t.is("asc") || t.is("desc") {
				k.desc = p.next().is("desc")
			}
			out.orderBy = append(out.orderBy, k)
			if p.peek().kind != tokComma {
				break
			}
			p.next()
		}
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, jqlErrorf("Error in the JQL Query: Expecting either 'OR' or 'AND' but got '%s'. (line 1, character %d)", t, t.pos)
	}
	return out, nil
}

func (p *parser) parseOr() (cond, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peek().is("or") {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(c *evalCtx) bool { return l(c) || right(c) }
	}
	return left, nil
}

func (p *parser) parseAnd() (cond, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.peek().is("and") {
		p.next()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(c *evalCtx) bool { return l(c) && right(c) }
	}
	return left, nil
}

func (p *parser) parseUnary() (cond, error) {
	t := p.peek()
	switch {
	case t.is("not"):
		p.next()
		inner, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return func(c *evalCtx) bool { return !inner(c) }, nil
	case t.kind == tokLParen:
		p.next()
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if r := p.next(); r.kind != tokRParen {
			return nil, jqlErrorf("Error in the JQL Query: Expecting ')' but got '%s'. (line 1, character %d)", r, r.pos)
		}
		return inner, nil
	}
	return p.parseClause()
}

const validOperators = "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'."

// parseClause parses "field operator value".
func (p *parser) parseClause() (cond, error) {
	ft := p.next()
	if ft.kind != tokWord && ft.kind != tokString {
		return nil, jqlErrorf("Error in the JQL Query: Expecting a field name but got '%s'. (line 1, character %d)", ft, ft.pos)
	}
	f, ok := p.s.jqlField(ft.text)
	if !ok {
		return nil, jqlErrorf("Field '%s' does not exist or you do not have permission to view it.", ft.text)
	}
	ot := p.next()
	op := strings.ToUpper(ot.text)
	switch {
	case ot.kind == tokOp:
	case ot.is("in"):
	case ot.is("is"):
		if p.peek().is("not") {
			p.next()
			op = "IS NOT"
		}
	case ot.is("not") && p.peek().is("in"):
		p.next()
		op = "NOT IN"
	default:
		return nil, jqlErrorf("Error in the JQL Query: Expecting operator but got '%s'. %s (line 1, character %d)", ot, validOperators, ot.pos)
	}
	if !strings.Contains(" "+f.ops+" ", " "+op+" ") {
		return nil, jqlErrorf("The operator '%s' is not supported by the '%s' field.", op, f.name)
	}
	var values []string
	switch op {
	case "IS", "IS NOT":
		if v := p.next(); !v.is("empty") && !v.is("null") {
			return nil, jqlErrorf("Error in the JQL Query: Expecting 'EMPTY' or 'NULL' but got '%s'. (line 1, character %d)", v, v.pos)
		}
	case "IN", "NOT IN":
		if l := p.next(); l.kind != tokLParen {
			return nil, jqlErrorf("Error in the JQL Query: Expecting '(' but got '%s'. (line 1, character %d)", l, l.pos)
		}
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			values = append(values, v)
			if sep := p.next(); sep.kind == tokRParen {
				break
			} else if sep.kind != tokComma {
				return nil, jqlErrorf("Error in the JQL Query: Expecting ')' but got '%s'. (line 1, character %d)", sep, sep.pos)
			}
		}
	default:
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		values = []string{v}
	}
	return f.compile(p.s, op, values)
}

func (p *parser) value() (string, error) {
	v := p.next()
	if v.kind != tokWord && v.kind != tokString {
		return "", jqlErrorf("Error in the JQL Query: Expecting either a value, list or function but got '%s'. (line 1, character %d)", v, v.pos)
	}
	if v.kind == tokWord && p.peek().kind == tokLParen {
		return "", jqlErrorf("Unable to find JQL function '%s()'.", v.text)
	}
	if v.kind == tokWord && (v.is("empty") || v.is("null")) {
		return "", jqlErrorf("The operator '=' does not support the value EMPTY: use 'IS EMPTY' instead.")
	}
	return v.text, nil
}

// jqlFieldDef describes a searchable field: its operators and how to compare.
type jqlFieldDef struct {
	name string // as Jira names it in messages
	ops  string // space-separated operators
	kind string // "text", "exact", "date", "number"
	// get returns the field's values for an issue (nil: empty).
	get func(c *evalCtx) []string
	// check validates a value (e.g. a status must exist).
	check func(v string) error
	// normalize maps a query value to the form get returns.
	normalize func(v string) string
}

const (
	exactOps = "= != IN NOT IN IS IS NOT"
	textOps  = "~ !~ IS IS NOT"
	orderOps = "= != > >= < <= IN NOT IN IS IS NOT"
)

func (s *Server) jqlField(name string) (jqlFieldDef, bool) {
	lower := strings.ToLower(name)
	userVal := func(ref string) []string {
		u, ok := s.findUser(ref)
		if !ok {
			return nil
		}
		return []string{strings.ToLower(u.AccountID), strings.ToLower(u.Name), strings.ToLower(u.Email)}
	}
	switch lower {
	case "project":
		return jqlFieldDef{name: "project", ops: exactOps, kind: "exact",
			get: func(*evalCtx) []string {
				return []string{strings.ToLower(s.opts.ProjectKey), projectID, strings.ToLower(s.opts.ProjectName)}
			},
			check: func(v string) error {
				if !s.isProject(v) && !strings.EqualFold(v, s.opts.ProjectName) {
					return jqlErrorf("The value '%s' does not exist for the field 'project'.", v)
				}
				return nil
			}}, true
	case "key", "issuekey", "id", "issue":
		return jqlFieldDef{name: "key", ops: exactOps, kind: "exact",
			get: func(c *evalCtx) []string { return []string{strings.ToLower(c.iss.key), c.iss.id} }}, true
	case "labels", "label":
		return jqlFieldDef{name: "labels", ops: exactOps, kind: "exact",
			get: func(c *evalCtx) []string {
				out := make([]string, 0, len(c.iss.labels))
				for _, l := range c.iss.labels {
					out = append(out, strings.ToLower(l))
				}
				return out
			}}, true
	case "status":
		return jqlFieldDef{name: "status", ops: exactOps, kind: "exact",
			get: func(c *evalCtx) []string { return []string{strings.ToLower(c.status.Name), c.status.ID} },
			check: func(v string) error {
				if _, ok := s.status(v); !ok {
					return jqlErrorf("The value '%s' does not exist for the field 'status'.", v)
				}
				return nil
			}}, true
	case "statuscategory":
		return jqlFieldDef{name: "statusCategory", ops: exactOps, kind: "exact",
			get: func(c *evalCtx) []string {
				switch c.status.Category {
				case CategoryNew:
					return []string{"new", "to do", "2"}
				case CategoryInProgress:
					return []string{"indeterminate", "in progress", "4"}
				}
				return []string{"done", "3"}
			}}, true
	case "issuetype", "type":
		return jqlFieldDef{name: "issuetype", ops: exactOps, kind: "exact",
			get: func(c *evalCtx) []string {
				return []string{strings.ToLower(c.iss.issueType), s.issueTypeID(c.iss.issueType)}
			},
			check: func(v string) error {
				if s.issueTypeID(v) == "" && !strings.HasPrefix(v, "1000") {
					return jqlErrorf("The value '%s' does not exist for the field 'issuetype'.", v)
				}
				return nil
			}}, true
	case "summary", "description", "text", "comment":
		return jqlFieldDef{name: lower, ops: textOps, kind: "text",
			get: func(c *evalCtx) []string {
				switch lower {
				case "summary":
					return nonEmpty(c.iss.summary)
				case "description":
					return nonEmpty(c.iss.description)
				case "comment":
					var out []string
					for _, cm := range c.iss.comments {
						out = append(out, cm.body)
					}
					return out
				}
				out := []string{c.iss.summary, c.iss.description}
				for _, cm := range c.iss.comments {
					out = append(out, cm.body)
				}
				return out
			}}, true
	case "reporter", "creator":
		return jqlFieldDef{name: lower, ops: exactOps, kind: "exact",
			get: func(c *evalCtx) []string {
				if lower == "reporter" {
					return userVal(c.iss.reporter)
				}
				return userVal(c.iss.creator)
			}}, true
	case "assignee":
		// Issues are never assigned in the emulator.
		return jqlFieldDef{name: "assignee", ops: exactOps, kind: "exact", get: func(*evalCtx) []string { return nil }}, true
	case "resolution":
		return jqlFieldDef{name: "resolution", ops: exactOps, kind: "exact",
			get: func(c *evalCtx) []string {
				if c.iss.resolved {
					return []string{"done", "10000"}
				}
				return nil
			},
			normalize: func(v string) string {
				if strings.EqualFold(v, "unresolved") {
					return ""
				}
				return v
			}}, true
	case "created", "createddate", "updated", "updateddate", "resolved", "resolutiondate":
		return jqlFieldDef{name: strings.TrimSuffix(lower, "date"), ops: orderOps, kind: "date",
			get: func(c *evalCtx) []string {
				var t time.Time
				switch {
				case strings.HasPrefix(lower, "created"):
					t = c.iss.created
				case strings.HasPrefix(lower, "updated"):
					t = c.iss.updated
				case c.iss.resolved:
					t = c.iss.resolvedAt
				default:
					return nil
				}
				return []string{strconv.FormatInt(t.UnixMilli(), 10)}
			}}, true
	}
	if cf, ok := s.customField(name); ok {
		// Text custom fields answer only to ~, !~ and IS, as in Jira.
		def := jqlFieldDef{name: cf.Name, ops: textOps, kind: "text",
			get: func(c *evalCtx) []string {
				if v, ok := c.iss.custom[cf.ID]; ok {
					return []string{valueString(v)}
				}
				return nil
			}}
		if cf.Type == "number" {
			def.ops, def.kind = orderOps, "number"
		}
		return def, true
	}
	return jqlFieldDef{}, false
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// parseJQLDate parses a JQL date: relative ("-15m", "2d", "-1w") or absolute
// ("2024-05-01", "2024/05/01 10:30").
func parseJQLDate(v string, now time.Time) (time.Time, error) {
	if d, ok := parsePeriod(strings.ToLower(strings.TrimSpace(v))); ok {
		return now.Add(d), nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006/01/02 15:04", "2006-01-02", "2006/01/02"} {
		if t, err := time.ParseInLocation(layout, v, now.Location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, jqlErrorf("Date value '%s' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.", v)
}

// parsePeriod parses "-15m", "+2h", "3d", "1w".
func parsePeriod(v string) (time.Duration, bool) {
	sign := time.Duration(1)
	if rest, ok := strings.CutPrefix(v, "-"); ok {
		v, sign = rest, -1
	} else {
		v = strings.TrimPrefix(v, "+")
	}
	if len(v) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	default:
		return 0, false
	}
	return sign * time.Duration(n) * unit, true
}

// compile turns a clause into a condition.
func (f jqlFieldDef) compile(s *Server, op string, values []string) (cond, error) {
	for i, v := range values {
		if f.check != nil {
			if err := f.check(v); err != nil {
				return nil, err
			}
		}
		if f.normalize != nil {
			v = f.normalize(v)
		}
		values[i] = strings.ToLower(v)
	}
	get := f.get
	switch op {
	case "IS":
		return func(c *evalCtx) bool { return len(get(c)) == 0 }, nil
	case "IS NOT":
		return func(c *evalCtx) bool { return len(get(c)) > 0 }, nil
	case "~", "!~":
		want := strings.Trim(values[0], "*?")
		if want == "" {
			return nil, jqlErrorf("The field '%s' does not support searching for an empty string.", f.name)
		}
		match := func(c *evalCtx) bool {
			for _, have := range get(c) {
				if strings.Contains(strings.ToLower(have), want) {
					return true
				}
			}
			return false
		}
		if op == "!~" {
			return func(c *evalCtx) bool { return !match(c) }, nil
		}
		return match, nil
	case ">", ">=", "<", "<=":
		return f.compileOrder(s, op, values[0])
	}
	if f.kind == "date" {
		cmp, err := f.compileOrder(s, "=", values[0])
		if err != nil {
			return nil, err
		}
		if op == "!=" {
			return func(c *evalCtx) bool { return !cmp(c) }, nil
		}
		return cmp, nil
	}
	in := func(c *evalCtx) bool {
		have := get(c)
		for _, v := range values {
			if v == "" && len(have) == 0 { // e.g. resolution = Unresolved
				return true
			}
			for _, h := range have {
				if strings.EqualFold(h, v) {
					return true
				}
			}
		}
		return false
	}
	if op == "!=" || op == "NOT IN" {
		return func(c *evalCtx) bool { return len(get(c)) > 0 && !in(c) }, nil
	}
	return in, nil
}

// compileOrder compares dates or numbers.
func (f jqlFieldDef) compileOrder(s *Server, op, value string) (cond, error) {
	var want float64
	switch f.kind {
	case "date":
		t, err := parseJQLDate(value, s.opts.Now())
		if err != nil {
			return nil, err
		}
		want = float64(t.UnixMilli())
	case "number":
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, jqlErrorf("The value '%s' is not a valid number for the field '%s'.", value, f.name)
		}
		want = n
	default:
		return nil, jqlErrorf("The operator '%s' is not supported by the '%s' field.", op, f.name)
	}
	get := f.get
	return func(c *evalCtx) bool {
		for _, h := range get(c) {
			have, err := strconv.ParseFloat(h, 64)
			if err != nil {
				continue
			}
			switch op {
			case "=":
				if have == want {
					return true
				}
			case ">":
				if have > want {
					return true
				}
			case ">=":
				if have >= want {
					return true
				}
			case "<":
				if have < want {
					return true
				}
			case "<=":
				if have <= want {
					return true
				}
			}
		}
		return false
	}, nil
}

func (s *Server) orderField(name string) (string, bool) {
	switch l := strings.ToLower(name); l {
	case "key", "issuekey", "id":
		return "key", true
	case "created", "updated", "summary", "status":
		return l, true
	}
	if cf, ok := s.customField(name); ok {
		return cf.ID, true
	}
	return "", false
}

// sortIssues orders issues by the ORDER BY keys (default: key descending).
func sortIssues(list []*issue, keys []orderKey) {
	if len(keys) == 0 {
		keys = []orderKey{{field: "key", desc: true}}
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		for _, k := range keys {
			c := compareIssues(a, b, k.field)
			if c == 0 {
				continue
			}
			if k.desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
}

func compareIssues(a, b *issue, field string) int {
	switch field {
	case "key":
		return a.num - b.num
	case "created":
		return a.created.Compare(b.created)
	case "updated":
		return a.updated.Compare(b.updated)
	case "summary":
		return strings.Compare(a.summary, b.summary)
	case "status":
		return strings.Compare(a.status, b.status)
	}
	return strings.Compare(valueString(a.custom[field]), valueString(b.custom[field]))
}
