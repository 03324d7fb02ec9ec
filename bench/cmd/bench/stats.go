package main

import (
	"math"
	"slices"
	"time"
)

// Dist summarises one sample of durations in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func distOf(ds []time.Duration) Dist {
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = ms(d)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return Dist{}
	}
	return Dist{N: len(v), P50: percentile(v, .5), P90: percentile(v, .9), P99: percentile(v, .99), Max: v[len(v)-1]}
}

// Agg is one figure over repetitions: the median and the spread (min, max).
type Agg struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Reps   []float64 `json:"reps"`
}

func agg(reps []float64) Agg {
	if len(reps) == 0 {
		return Agg{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(reps)
	slices.Sort(s)
	var med float64
	if n := len(s); n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Agg{Median: med, Min: s[0], Max: s[len(s)-1], Reps: reps}
}

// DistAgg aggregates the percentiles of several repetitions.
type DistAgg struct {
	P50 Agg `json:"p50_ms"`
	P90 Agg `json:"p90_ms"`
	P99 Agg `json:"p99_ms"`
	Max Agg `json:"max_ms"`
	N   int `json:"samples_per_rep"`
}

func aggDists(ds []Dist) DistAgg {
	var p50, p90, p99, mx []float64
	n := 0
	for _, d := range ds {
		p50, p90, p99, mx = append(p50, d.P50), append(p90, d.P90), append(p99, d.P99), append(mx, d.Max)
		n = d.N
	}
	return DistAgg{P50: agg(p50), P90: agg(p90), P99: agg(p99), Max: agg(mx), N: n}
}
