package notification

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is a sum of money in kobo (hundredths of a naira). It is never a
// float: it is parsed from decimal text and printed with exactly two decimals.
type Amount int64

// maxAmount keeps kobo arithmetic far from int64 overflow (10^15 naira).
const maxAmount = Amount(1e17)

// ErrBadAmount is returned for an amount that is not a positive decimal with
// at most two places.
var ErrBadAmount = errors.New("want a positive number of naira with at most two decimals, e.g. 1500 or \"1500.50\"")

// ParseAmount parses decimal naira text such as "1500", "1500.5" or
// "1500.50". It rejects signs, exponents, more than two decimals and zero.
func ParseAmount(s string) (Amount, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !digits(whole) || (hasDot && (len(frac) == 0 || len(frac) > 2 || !digits(frac))) {
		return 0, ErrBadAmount
	}
	if len(whole) > 15 {
		return 0, ErrBadAmount
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, ErrBadAmount
	}
	kobo := n * 100
	if len(frac) == 1 {
		frac += "0"
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		kobo += f
	}
	a := Amount(kobo)
	if a <= 0 || a >= maxAmount {
		return 0, ErrBadAmount
	}
	return a, nil
}

// AmountFromKobo converts a provider's kobo amount, given as decimal text
// (a JSON number or string), to an Amount.
func AmountFromKobo(s string) (Amount, error) {
	if !digits(s) || len(s) > 17 {
		return 0, ErrBadAmount
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrBadAmount
	}
	return Amount(n), nil
}

// ParseAmountJSON accepts a JSON number or a JSON string holding a number.
func ParseAmountJSON(raw json.RawMessage) (Amount, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, ErrBadAmount
		}
		return ParseAmount(strings.TrimSpace(s))
	}
	return ParseAmount(string(raw))
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String prints the amount in naira with exactly two decimals.
func (a Amount) String() string {
	return fmt.Sprintf("%d.%02d", int64(a)/100, int64(a)%100)
}

// MarshalJSON writes the amount as a JSON number with two decimals.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalJSON reads what MarshalJSON writes (and numeric strings).
func (a *Amount) UnmarshalJSON(b []byte) error {
	v, err := ParseAmountJSON(b)
	if err != nil {
		return err
	}
	*a = v
	return nil
}
