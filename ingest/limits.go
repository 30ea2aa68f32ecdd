package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fluxrelay/fluxrelay/internal/jsonscan"
	"github.com/fluxrelay/fluxrelay/provider"
)

// Limits are the input limits every notification is held to, over HTTP
// and MQTT alike, before its provider reads it and before anything is
// stored: nothing is acknowledged that the delivery path cannot read back.
type Limits struct {
	// MaxBody is the largest body taken, in bytes (http.max_body).
	MaxBody int64
	// DedupWindow is how long a notification is remembered
	// (store.dedup_window). A notification whose signed send time is
	// older is refused: it may be a replay of one already forgotten.
	DedupWindow time.Duration
}

// DefaultLimits are the limits until SetLimits is called: the config's
// defaults.
var DefaultLimits = Limits{MaxBody: 1 << 20, DedupWindow: 30 * 24 * time.Hour}

// The limits that are not configured.
const (
	// MaxDepth is how deep objects and arrays may nest in a body.
	MaxDepth = 64
	// MaxRef is the longest reference, in bytes.
	MaxRef = provider.MaxRef
	// MaxHeaders is how many header values a notification may carry.
	MaxHeaders = 100
	// MaxHeaderBytes bounds the names and values of its headers together.
	MaxHeaderBytes = 64 << 10
)

// LimitError is a notification over an input limit. TooLarge is set for
// the body size (HTTP 413, MQTT 0x95); every other limit is a 400 (0x99).
type LimitError struct {
	TooLarge bool
	Msg      string
}

func (e *LimitError) Error() string { return e.Msg }

func overLimit(format string, args ...any) *LimitError {
	return &LimitError{Msg: fmt.Sprintf(format, args...)}
}

// CheckSize holds a body of n bytes to MaxBody.
func (l Limits) CheckSize(n int64) error {
	if n > l.MaxBody {
		return &LimitError{TooLarge: true, Msg: fmt.Sprintf("the body is %d bytes, larger than http.max_body (%d bytes), the limit over HTTP and MQTT alike", n, l.MaxBody)}
	}
	return nil
}

// TooLarge is the error for a body found to be over MaxBody before its
// end was read.
func (l Limits) TooLarge() error {
	return &LimitError{TooLarge: true, Msg: fmt.Sprintf("the body is larger than http.max_body (%d bytes), the limit over HTTP and MQTT alike", l.MaxBody)}
}

// CheckHeaders holds headers to what an HTTP request may carry: names are
// HTTP tokens, values hold no control character (a tab aside, as HTTP
// allows), and there are at most MaxHeaders values of MaxHeaderBytes in
// all. Over HTTP the server has mostly seen to it; an MQTT envelope's
// headers are checked only here.
func CheckHeaders(h http.Header) error {
	count, size := 0, 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		if !validHeaderName(name) {
			return overLimit("header %s: not a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~ only)", strconv.QuoteToASCII(clipText(name)))
		}
		for _, v := range h[name] {
			if i := strings.IndexFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }); i >= 0 {
				return overLimit("header %s: its value holds a control character (byte %d); header values may not hold line breaks or other control characters", name, i)
			}
			count++
			size += len(name) + len(v)
		}
	}
	switch {
	case count > MaxHeaders:
		return overLimit("the notification carries %d header values, more than the %d taken", count, MaxHeaders)
	case size > MaxHeaderBytes:
		return overLimit("the notification's headers take %d bytes, more than the %d taken", size, MaxHeaderBytes)
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// CheckBody holds a JSON body to the limits before a provider reads it:
// nesting at most MaxDepth deep, no key given twice in one object at any
// depth, no key that differs from a documented one only in case, and
// every reference at most MaxRef bytes. A body that is not JSON passes:
// every provider refuses it on its own, with a message about JSON. doc
// (what the provider reads) may be nil.
func CheckBody(body []byte, doc *provider.Documented) error {
	if err := checkDepth(body); err != nil {
		return err
	}
	if !json.Valid(body) {
		return nil
	}
	s := scanner{b: body}
	var keys *provider.Keys
	if doc != nil {
		keys = doc.Body
	}
	return s.value(keys, nil, false)
}

// checkDepth refuses a body that nests more than MaxDepth deep, JSON or
// not: Go's decoders disagree on input nested past their own limit (one
// calls it invalid, another takes it), so depth is counted before anything
// else reads the body.
func checkDepth(b []byte) error {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			if depth++; depth > MaxDepth {
				return overLimit("the body nests objects and arrays more than %d deep (at byte %d); a notification never needs that", MaxDepth, i)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// CheckHeaderRefs holds the headers a provider takes a reference from to
// MaxRef.
func CheckHeaderRefs(h http.Header, doc *provider.Documented) error {
	if doc == nil {
		return nil
	}
	for _, name := range doc.HeaderRefs {
		if v := h.Get(name); len(v) > MaxRef {
			return overLimit("header %s: %d bytes, longer than the %d bytes a reference may have", name, len(v), MaxRef)
		}
	}
	return nil
}

// scanner walks valid JSON once, holding it to the limits. It recurses
// at most MaxDepth deep: CheckBody has refused deeper input (checkDepth).
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() { s.i = jsonscan.SkipSpace(s.b, s.i) }

func (s *scanner) value(keys *provider.Keys, path []string, isRef bool) error {
	s.space()
	switch s.b[s.i] {
	case '{':
		return s.object(keys, path)
	case '[':
		return s.array(keys, path)
	case '"':
		end := jsonscan.StringEnd(s.b, s.i)
		if isRef {
			v, _ := jsonscan.Unquote(s.b[s.i:end])
			if len(v) > MaxRef {
				return overLimit("%s: %d bytes, longer than the %d bytes a reference may have", pathName(path), len(v), MaxRef)
			}
		}
		s.i = end
	default:
		start := s.i
		s.i = jsonscan.ValueEnd(s.b, s.i)
		if isRef && s.i-start > MaxRef {
			return overLimit("%s: %d bytes, longer than the %d bytes a reference may have", pathName(path), s.i-start, MaxRef)
		}
	}
	return nil
}

func (s *scanner) object(keys *provider.Keys, path []string) error {
	s.i++ // '{'
	var seen map[string]bool
	for {
		s.space()
		if s.b[s.i] == '}' {
			break
		}
		end := jsonscan.StringEnd(s.b, s.i)
		key, _ := jsonscan.Unquote(s.b[s.i:end])
		s.i = end
		if seen[key] {
			return overLimit("%s: given twice; a notification must give each key once", pathName(append(path, key)))
		}
		if seen == nil {
			seen = make(map[string]bool, 8)
		}
		seen[key] = true
		child, isRef, err := documentedKey(keys, path, key)
		if err != nil {
			return err
		}
		s.space()
		s.i++ // ':'
		if err := s.value(child, append(path, key), isRef); err != nil {
			return err
		}
		s.space()
		if s.b[s.i] == ',' {
			s.i++
		}
	}
	s.i++
	return nil
}

func (s *scanner) array(keys *provider.Keys, path []string) error {
	s.i++ // '['
	for {
		s.space()
		if s.b[s.i] == ']' {
			break
		}
		if err := s.value(keys, path, false); err != nil {
			return err
		}
		s.space()
		if s.b[s.i] == ',' {
			s.i++
		}
	}
	s.i++
	return nil
}

// documentedKey looks key up among the documented keys of its object: the
// keys of its value and whether it is a reference, or an error when it
// differs from a documented key only in case.
func documentedKey(keys *provider.Keys, path []string, key string) (*provider.Keys, bool, error) {
	if keys == nil || keys.Fields == nil {
		return nil, false, nil
	}
	if child, ok := keys.Fields[key]; ok {
		return child, child != nil && child.Ref, nil
	}
	for doc := range keys.Fields {
		if strings.EqualFold(doc, key) {
			return nil, false, overLimit("%s: differs from the documented key %q only in case; send %q, spelled exactly so, and only once", pathName(append(path, key)), doc, doc)
		}
	}
	return nil, false, nil
}

// pathName names a place in a body for a message.
func pathName(path []string) string {
	if len(path) == 0 {
		return "the top level"
	}
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = clipText(p)
		if strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
			parts[i] = strconv.QuoteToASCII(parts[i])
		}
	}
	return strings.Join(parts, ".")
}

// clipText shows at most 40 bytes of a name, cut on a character boundary.
func clipText(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
