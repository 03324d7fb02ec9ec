package events

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// scanner reads JSON in one pass, validating everything it passes over —
// the values it extracts and the ones it skips — so that a document it
// accepts is exactly one json.Valid accepts (FuzzScanValid holds it to
// that). It allocates only for the values a caller keeps.
type scanner struct {
	b     []byte
	i     int
	depth int
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// SyntaxError is malformed JSON, with the byte offset where it was found.
type SyntaxError struct {
	Msg    string
	Offset int
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset) }

func (s *scanner) fail(msg string) error { return &SyntaxError{Msg: msg, Offset: s.i} }

func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

// peek returns the next non-space byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// end checks that only white space is left.
func (s *scanner) end() error {
	if s.ws(); s.i < len(s.b) {
		return s.fail("invalid character after top-level value")
	}
	return nil
}

// valid reports whether b is one JSON value (json.Valid's answer).
func validJSON(b []byte) error {
	s := scanner{b: b}
	if err := s.skip(); err != nil {
		return err
	}
	return s.end()
}

// skip validates and passes over one value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(skipMember{s}.member)
	case c == '[':
		return s.array(skipMember{s}.elem)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.number()
		return err
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case s.i >= len(s.b):
		return s.fail("unexpected end of JSON input")
	default:
		return s.fail(fmt.Sprintf("invalid character %q looking for beginning of value", c))
	}
}

// skipMember skips object members and array elements (a value type, so
// that passing its methods does not allocate).
type skipMember struct{ s *scanner }

func (m skipMember) member([]byte, bool) error { return m.s.skip() }
func (m skipMember) elem() error               { return m.s.skip() }

func (s *scanner) lit(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		for k := 0; k < len(word); k++ {
			if s.i >= len(s.b) {
				return s.fail("unexpected end of JSON input")
			}
			if s.b[s.i] != word[k] {
				return s.fail(fmt.Sprintf("invalid character %q in literal %s", s.b[s.i], word))
			}
			s.i++
		}
	}
	s.i += len(word)
	return nil
}

// object reads an object, calling member with each key (raw, between the
// quotes; esc when it holds escapes) positioned on its value, which member
// must consume.
func (s *scanner) object(member func(key []byte, esc bool) error) error {
	if s.peek() != '{' {
		return s.fail("expected an object")
	}
	s.i++
	if s.depth++; s.depth > maxDepth {
		return s.fail("exceeded max depth")
	}
	if s.peek() == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if s.peek() != '"' {
			if s.i >= len(s.b) {
				return s.fail("unexpected end of JSON input")
			}
			return s.fail("invalid character looking for beginning of object key string")
		}
		key, esc, err := s.str()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			if s.i >= len(s.b) {
				return s.fail("unexpected end of JSON input")
			}
			return s.fail("invalid character after object key")
		}
		s.i++
		if err := member(key, esc); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		case 0:
			return s.fail("unexpected end of JSON input")
		default:
			return s.fail("invalid character after object key:value pair")
		}
	}
}

// array reads an array, calling elem positioned on each element.
func (s *scanner) array(elem func() error) error {
	if s.peek() != '[' {
		return s.fail("expected an array")
	}
	s.i++
	if s.depth++; s.depth > maxDepth {
		return s.fail("exceeded max depth")
	}
	if s.peek() == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		case 0:
			return s.fail("unexpected end of JSON input")
		default:
			return s.fail("invalid character after array element")
		}
	}
}

// str reads a string and returns its raw content; esc reports escapes.
// It works on a local index (the hot loop of the parser: most of a Jira
// body is strings) and passes over plain runs eight bytes at a time.
func (s *scanner) str() (raw []byte, esc bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.fail("expected a string")
	}
	b := s.b
	start := s.i + 1
	i := start
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			s.i = i
			return nil, false, s.fail("unexpected end of JSON input")
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return b[start:i], esc, nil
		case '\\':
			esc = true
			i++
			if i >= len(b) {
				s.i = i
				return nil, false, s.fail("unexpected end of JSON input")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for k := 0; k < 4; k++ {
					if i >= len(b) {
						s.i = i
						return nil, false, s.fail("unexpected end of JSON input")
					}
					if !isHex(b[i]) {
						s.i = i
						return nil, false, s.fail("invalid character in \\u hexadecimal character escape")
					}
					i++
				}
			default:
				s.i = i
				return nil, false, s.fail("invalid character in string escape code")
			}
		default: // a control character
			s.i = i
			return nil, false, s.fail("invalid character in string literal")
		}
	}
}

// ones and highs are the bytes 0x01 and 0x80 in each of a word's eight.
const ones, highs = 0x0101010101010101, 0x8080808080808080

// plainRun returns the index of the first quote, backslash or control
// character in b at or after i, or len(b).
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := stops(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// stops flags (in its high bit) each byte of x that ends a plain run of a
// string: '"', '\\' or below 0x20. Flags above the lowest may be false (a
// borrow), the lowest never is, which is all plainRun reads.
func stops(x uint64) uint64 {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return (((q - ones) &^ q) | ((bs - ones) &^ bs) | ((x - ones*0x20) &^ x)) & highs
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number reads a number and returns its literal.
func (s *scanner) number() ([]byte, error) {
	s.ws()
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i >= len(s.b):
		return nil, s.fail("unexpected end of JSON input")
	case s.b[s.i] == '0':
		s.i++
	case s.b[s.i] >= '1' && s.b[s.i] <= '9':
		digits()
	default:
		return nil, s.fail("invalid character in numeric literal")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			if s.i >= len(s.b) {
				return nil, s.fail("unexpected end of JSON input")
			}
			return nil, s.fail("invalid character after decimal point in numeric literal")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			if s.i >= len(s.b) {
				return nil, s.fail("unexpected end of JSON input")
			}
			return nil, s.fail("invalid character in exponent of numeric literal")
		}
	}
	return s.b[start:s.i], nil
}

// decodeString turns a string's raw content into its value, as
// encoding/json does (invalid UTF-8 becomes U+FFFD).
func decodeString(raw []byte, esc bool) string {
	if !esc && utf8.Valid(raw) {
		return string(raw)
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var v string
	_ = json.Unmarshal(q, &v) // raw was validated by str
	return v
}

// keyIs reports whether a raw key equals name once unescaped.
func keyIs(raw []byte, esc bool, name string) bool {
	if !esc {
		return string(raw) == name
	}
	return decodeString(raw, esc) == name
}

// kind of the value a flexible reader found.
type kind uint8

const (
	kindAbsent kind = iota // null
	kindString
	kindNumber
	kindOther // bool, object or array: skipped
)

// flexString reads a string or a number (as its literal); null gives
// kindAbsent, anything else is skipped and reported as kindOther.
func (s *scanner) flexString() (string, kind, error) {
	switch c := s.peek(); {
	case c == '"':
		raw, esc, err := s.str()
		if err != nil {
			return "", kindOther, err
		}
		return decodeString(raw, esc), kindString, nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := s.number()
		return string(n), kindNumber, err
	case c == 'n':
		return "", kindAbsent, s.lit("null")
	default:
		return "", kindOther, s.skip()
	}
}

// flexInt reads an integer given as a number or a string of digits; any
// other value is skipped and gives 0.
func (s *scanner) flexInt() (int64, error) {
	v, k, err := s.flexString()
	if err != nil || (k != kindString && k != kindNumber) {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, nil
	}
	return n, nil
}

// isObject reports whether the next value is an object; if it is not, it
// is skipped (a value of the wrong type in a field read leniently).
func (s *scanner) isObject() (bool, error) {
	if s.peek() == '{' {
		return true, nil
	}
	return false, s.skip()
}

// isArray is isObject for arrays.
func (s *scanner) isArray() (bool, error) {
	if s.peek() == '[' {
		return true, nil
	}
	return false, s.skip()
}
