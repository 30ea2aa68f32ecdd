package admin

import (
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Tally is a count of sales and their sum, exact to the kobo.
type Tally struct {
	Count int    `json:"count"`
	Sum   string `json:"sum"` // naira, two decimals
	kobo  notification.Amount
}

func (t *Tally) add(a notification.Amount) {
	t.Count++
	t.kobo += a
	t.Sum = t.kobo.String()
}

// merge adds o's sales to t.
func (t *Tally) merge(o Tally) {
	t.Count += o.Count
	t.kobo += o.kobo
	t.Sum = t.kobo.String()
}

// tallies are a row's four tallies, in order.
func (r *ReportRow) tallies() []*Tally {
	return []*Tally{&r.Received, &r.Delivered, &r.Waiting, &r.NeedsPerson}
}

// ReportRow is one source and payment method on one day.
type ReportRow struct {
	Source   string `json:"source"`
	Method   string `json:"payment_method"`
	Received Tally  `json:"received"`
	// Delivered, Waiting and NeedsPerson split Received by where each
	// sale is now.
	Delivered   Tally `json:"delivered"`
	Waiting     Tally `json:"waiting"`
	NeedsPerson Tally `json:"needs_person"`
}

// ReportDay is one day, in the gateway's time zone.
type ReportDay struct {
	Day   string      `json:"day"` // 2006-01-02
	Rows  []ReportRow `json:"rows"`
	Total ReportRow   `json:"total"`
}

// Report is what `fluxrelay report` prints: the sales received, by day.
type Report struct {
	Timezone string      `json:"timezone"`
	Days     []ReportDay `json:"days"`
}

// BuildReport counts the sales among recs (notifications that are not
// sales — ignored, or held with nothing mapped — are left out) by the day
// they were received in loc, then by source and payment method. The status
// page's totals come from the same code.
func BuildReport(recs iter.Seq2[*notification.Record, error], loc *time.Location) (Report, error) {
	rep := Report{Timezone: loc.String()}
	if loc == time.Local {
		rep.Timezone = "the gateway's time zone" // config timezone is empty
	}
	days := map[string]map[[2]string]*ReportRow{}
	for r, err := range recs {
		if err != nil {
			return rep, err
		}
		if r.Payload == nil || r.State == notification.Ignored {
			continue
		}
		day := r.ReceivedAt.In(loc).Format("2006-01-02")
		if days[day] == nil {
			days[day] = map[[2]string]*ReportRow{}
		}
		key := [2]string{r.Source, r.Payload.PaymentMethod}
		row := days[day][key]
		if row == nil {
			row = &ReportRow{Source: key[0], Method: key[1]}
			days[day][key] = row
		}
		a := r.Payload.Amount
		row.Received.add(a)
		switch r.State {
		case notification.Delivered:
			row.Delivered.add(a)
		case notification.Pending:
			row.Waiting.add(a)
		case notification.Dead:
			row.NeedsPerson.add(a)
		}
	}
	for day, rows := range days {
		d := ReportDay{Day: day, Total: ReportRow{Source: "all", Method: "all"}}
		for _, row := range rows {
			for i, t := range row.tallies() {
				t.Sum = t.kobo.String() // "0.00" for a tally with no sale
				d.Total.tallies()[i].merge(*t)
			}
			d.Rows = append(d.Rows, *row)
		}
		slices.SortFunc(d.Rows, func(a, b ReportRow) int {
			if c := strings.Compare(a.Source, b.Source); c != 0 {
				return c
			}
			return strings.Compare(a.Method, b.Method)
		})
		rep.Days = append(rep.Days, d)
	}
	slices.SortFunc(rep.Days, func(a, b ReportDay) int { return strings.Compare(a.Day, b.Day) })
	return rep, nil
}
