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
	whole, frac, _ := strings.Cut(s, ".")
	if strings.HasSuffix(s, ".") || len(frac) > 2 {
		return 0, ErrBadAmount
	}
	return positive(kobo(whole, frac))
}

// kobo counts the kobo in whole naira and up to two decimal places; -1
// when they are not plain digits or too large.
func kobo(whole, frac string) Amount {
	if !digits(whole) || len(whole) > 15 || (frac != "" && !digits(frac)) {
		return -1
	}
	n, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	return Amount(n*100 + f)
}

func positive(a Amount) (Amount, error) {
	if a <= 0 || a >= maxAmount {
		return 0, ErrBadAmount
	}
	return a, nil
}

// ParseProviderAmount reads a provider's naira amount, a JSON number or a
// numeric string. Besides what ParseAmount takes, it accepts a decimal
// within 0.000001 naira of a whole kobo amount, the float artifact of PHP
// and JavaScript senders ("4946.249999999999" is 4946.25). Anything else,
// exponents included, is refused rather than rounded by guesswork.
func ParseProviderAmount(raw json.RawMessage) (Amount, error) {
	raw = bytes.TrimSpace(raw)
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, ErrBadAmount
		}
		s = strings.TrimSpace(s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) <= 2 || len(frac) > 30 || !digits(frac) {
		return ParseAmount(s)
	}
	// The kobo are the first two places; the rest, a fraction of one kobo,
	// must be within 0.0001 kobo (0.000001 naira) of 0 or of 1.
	a, rest := kobo(whole, frac[:2]), frac[2:]+"0000"
	switch {
	case a < 0:
		return 0, ErrBadAmount
	case rest[:4] < "0001" || (rest[:4] == "0001" && strings.Trim(rest[4:], "0") == ""):
		return positive(a)
	case rest[:4] == "9999":
		return positive(a + 1)
	}
	return 0, fmt.Errorf("got %s, which is not a whole number of kobo: %w", s, ErrBadAmount)
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

// UnmarshalJSON reads what MarshalJSON writes (and numeric strings),
// 0.00 included: a held notification is stored with no amount.
func (a *Amount) UnmarshalJSON(b []byte) error {
	v, err := ParseAmountJSON(b)
	if err != nil {
		whole, frac, _ := strings.Cut(strings.Trim(string(b), `"`), ".")
		if kobo(whole, frac) != 0 || len(frac) > 2 {
			return err
		}
	}
	*a = v
	return nil
}
