package pilotlight

import (
	"fmt"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of /metrics.
type Metrics map[string]*dto.MetricFamily

// Metrics scrapes /metrics.
func (i *Instance) Metrics() (Metrics, error) {
	code, body, err := i.Get("/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(body))
}

// Sum adds up the values of every series of a counter or gauge whose
// labels include the given ones (name, value pairs). A metric that does
// not exist yet sums to zero: counters with labels appear on first use.
func (m Metrics) Sum(name string, labels ...string) float64 {
	return m.SumWhere(name, func(l map[string]string) bool {
		for k := 0; k+1 < len(labels); k += 2 {
			if l[labels[k]] != labels[k+1] {
				return false
			}
		}
		return true
	})
}

// SumWhere adds up the series of a counter or gauge whose labels match.
func (m Metrics) SumWhere(name string, match func(labels map[string]string) bool) float64 {
	fam, ok := m[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, s := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if !match(labels) {
			continue
		}
		switch {
		case s.GetCounter() != nil:
			sum += s.GetCounter().GetValue()
		case s.GetGauge() != nil:
			sum += s.GetGauge().GetValue()
		case s.GetUntyped() != nil:
			sum += s.GetUntyped().GetValue()
		}
	}
	return sum
}
