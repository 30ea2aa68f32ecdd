package main

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// What the commands print for people: times in the gateway's zone with
// its offset (the API keeps RFC 3339 UTC), and text taken from the input
// with its control characters made visible, so that a notification cannot
// move the cursor, recolour or clear a technician's terminal.

// zoneNamed is the zone the daemon names (its config timezone, or "Local"
// for the machine's own).
func zoneNamed(name string) *time.Location {
	if name == "" || name == "Local" {
		return time.Local
	}
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	return time.Local
}

// stamp is t in loc to the second, with the offset and the zone's
// abbreviation: "2026-03-14 10:00:05 +01:00 WAT".
func stamp(t time.Time, loc *time.Location) string { return when(t, loc, "2006-01-02 15:04:05") }

// stampMinute is stamp to the minute.
func stampMinute(t time.Time, loc *time.Location) string { return when(t, loc, "2006-01-02 15:04") }

func when(t time.Time, loc *time.Location, layout string) string {
	t = t.In(loc)
	s := t.Format(layout + " -07:00")
	if abbr, _ := t.Zone(); abbr != "" && abbr[0] != '+' && abbr[0] != '-' {
		s += " " + abbr
	}
	return s
}

// zoneWords names loc for a heading, with its offset at t: "Africa/Lagos,
// +01:00".
func zoneWords(loc *time.Location, t time.Time) string {
	name := loc.String()
	if loc == time.Local {
		name = "the gateway's time zone"
	}
	return name + ", " + t.In(loc).Format("-07:00")
}

// clean makes the control characters of s visible (\x1b, \u009b, …), and
// the characters that reorder text (bidirectional overrides); line breaks
// and tabs stay.
func clean(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteString(fmt.Sprintf(`\x%02x`, s[i]))
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x80 && unicode.IsControl(r):
			b.WriteString(fmt.Sprintf(`\x%02x`, r))
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			b.WriteString(fmt.Sprintf(`\u%04x`, r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// oneLine is clean(s) on one line, its runs of white space made one space.
func oneLine(s string) string { return strings.Join(strings.Fields(clean(s)), " ") }
