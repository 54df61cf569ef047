package console

import (
	"net/http"
	"slices"
	"time"
)

// The charts are drawn in the browser by uPlot (vendored under
// assets/uplot, with its licence) from this JSON; the page's own script
// feeds it. uPlot writes labels as text, so a hostile tier name stays text.

// hourlyChart is the data of the overview's charts: mail per hour of the
// last 24 hours by tier, and the L1 share against its healthy band.
type hourlyChart struct {
	Hours   []int64       `json:"hours"`  // each hour's start, Unix seconds, oldest first; always 24
	Series  []chartSeries `json:"series"` // the declared tiers in order, then others seen, then dropped
	L1Band  [2]float64    `json:"l1_band"`
	L1Share float64       `json:"l1_share"` // percent of forwarded tickets in the last 24 h; -1 when none
}

// chartSeries is one tier's (or the dropped mail's) count per hour.
type chartSeries struct {
	Label   string `json:"label"`
	Dropped bool   `json:"dropped,omitempty"`
	Values  []int  `json:"values"`
}

func (c *Console) chartAPI(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	hours := c.src.Snapshot().Hours
	ch := hourlyData(hours, c.src.Rules().Tiers(), now)
	ch.L1Band = [2]float64{l1BandLow, l1BandHigh}
	_, ch.L1Share = dayTotals(hours, now)
	writeJSON(w, http.StatusOK, ch)
}

// hourlyData puts the hours of the last 24 that saw mail into 24 slots,
// one series per tier.
func hourlyData(hours []Hour, declared []string, now time.Time) hourlyChart {
	end := now.UTC().Truncate(time.Hour)
	start := end.Add(-23 * time.Hour)
	ch := hourlyChart{Hours: make([]int64, 24)}
	for i := range ch.Hours {
		ch.Hours[i] = start.Add(time.Duration(i) * time.Hour).Unix()
	}
	tiers := slices.Clone(declared)
	for _, h := range hours {
		for t := range h.Tiers {
			if !slices.Contains(tiers, t) {
				tiers = append(tiers, t)
			}
		}
	}
	slices.Sort(tiers[len(declared):]) // the undeclared ones in a stable order
	series := make([]chartSeries, len(tiers)+1)
	for j, t := range tiers {
		series[j] = chartSeries{Label: t, Values: make([]int, 24)}
	}
	series[len(tiers)] = chartSeries{Label: "dropped", Dropped: true, Values: make([]int, 24)}
	for _, h := range hours {
		i := int(h.Start.UTC().Sub(start) / time.Hour)
		if h.Start.UTC().Before(start) || i >= 24 {
			continue
		}
		for j, t := range tiers {
			series[j].Values[i] += h.Tiers[t]
		}
		series[len(tiers)].Values[i] += h.Dropped
	}
	ch.Series = series
	return ch
}
