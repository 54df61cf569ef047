package console

import (
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The charts are SVG drawn here: small, no script, no library, and served
// as images, so even a hostile tier name is only text in an <img>.

func (c *Console) hourlyChart(w http.ResponseWriter, _ *http.Request) {
	svg := hourlySVG(c.src.Snapshot().Hours, c.src.Rules().Tiers(), time.Now())
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(svg))
}

func (c *Console) l1Chart(w http.ResponseWriter, _ *http.Request) {
	o := c.overviewData(time.Now())
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(l1SVG(o.L1Share)))
}

// hourlySVG draws the mail per hour of the last 24 hours, stacked by tier.
func hourlySVG(hours []Hour, declared []string, now time.Time) string {
	const width, height, left, bottom, top = 760, 240, 40, 30, 30
	end := now.UTC().Truncate(time.Hour)
	start := end.Add(-23 * time.Hour)
	slots := make([]Hour, 24)
	tiers := slices.Clone(declared)
	for i := range slots {
		slots[i].Start = start.Add(time.Duration(i) * time.Hour)
	}
	for _, h := range hours {
		i := int(h.Start.UTC().Sub(start) / time.Hour)
		if i < 0 || i >= 24 {
			continue
		}
		slots[i].Tiers, slots[i].Dropped = h.Tiers, h.Dropped
		for t := range h.Tiers {
			if !slices.Contains(tiers, t) {
				tiers = append(tiers, t)
			}
		}
	}
	peak := 1
	for _, s := range slots {
		n := s.Dropped
		for _, v := range s.Tiers {
			n += v
		}
		peak = max(peak, n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, width, height, width, height)
	b.WriteString(`<title>Mail per hour, last 24 hours (UTC), by tier</title>`)
	plotH := float64(height - bottom - top)
	barW := float64(width-left-10) / 24
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, left, height-bottom, width-10, height-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%d</text><text x="%d" y="%d" text-anchor="end">0</text>`, left-4, top+4, peak, left-4, height-bottom)
	for i, s := range slots {
		x := float64(left) + float64(i)*barW
		y := float64(height - bottom)
		stack := func(n int, color, label string) {
			if n == 0 {
				return
			}
			h := plotH * float64(n) / float64(peak)
			y -= h
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x+1, y, barW-2, h, color, s.Start.Format("15:00"), html.EscapeString(label), n)
		}
		for j, t := range tiers {
			stack(s.Tiers[t], colorOf(j), t)
		}
		stack(s.Dropped, "#c8c8c8", "dropped")
		if i%3 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`, x+1, height-bottom+14, s.Start.Format("15h"))
		}
	}
	x := left
	for j, t := range append(slices.Clone(tiers), "dropped") {
		color := colorOf(j)
		if t == "dropped" {
			color = "#c8c8c8"
		}
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="10" height="10" fill="%s"/><text x="%d" y="17">%s</text>`, x, color, x+14, html.EscapeString(t))
		x += 24 + 7*len(t)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// colorOf is the bar colour of the i-th declared tier; the rest are grey.
func colorOf(i int) string {
	switch i {
	case 0:
		return "#2e8b57"
	case 1:
		return "#3b6fb6"
	case 2:
		return "#c0392b"
	case 3:
		return "#8e44ad"
	case 4:
		return "#d68910"
	}
	return "#7f8c8d"
}

// l1SVG draws the L1 share against its healthy band; share < 0 is "no tickets".
func l1SVG(share float64) string {
	const width, height, left, barW = 360, 56, 10, 340
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, width, height, width, height)
	b.WriteString(`<title>L1 share of forwarded tickets, last 24 hours, against the healthy band</title>`)
	fmt.Fprintf(&b, `<rect x="%d" y="20" width="%d" height="14" fill="#eee"/>`, left, barW)
	fmt.Fprintf(&b, `<rect class="band" x="%.1f" y="20" width="%.1f" height="14" fill="#bfe3c8"/>`, left+barW*l1BandLow/100.0, barW*(l1BandHigh-l1BandLow)/100.0)
	label := "no tickets yet"
	if share >= 0 {
		x := left + barW*share/100
		fmt.Fprintf(&b, `<rect class="marker" x="%.1f" y="16" width="3" height="22" fill="#222"/>`, x-1)
		label = fmt.Sprintf("L1 %.0f %% (healthy %d–%d %%)", share, l1BandLow, l1BandHigh)
	}
	fmt.Fprintf(&b, `<text x="%d" y="13">%s</text>`, left, label)
	fmt.Fprintf(&b, `<text x="%d" y="50">0</text><text x="%d" y="50" text-anchor="end">100 %%</text>`, left, left+barW)
	b.WriteString(`</svg>`)
	return b.String()
}
