package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// desc is a metric read at scrape time: its description and kind.
type desc struct {
	d    *prometheus.Desc
	kind prometheus.ValueType
}

func newDesc(name, help string, kind prometheus.ValueType, labels ...string) desc {
	return desc{prometheus.NewDesc(name, help, labels, nil), kind}
}

// emit sends one sample of d.
func (d desc) emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d.d, d.kind, v, labels...)
}

// describeAll sends every desc of a collector.
func describeAll(ch chan<- *prometheus.Desc, ds ...desc) {
	for _, d := range ds {
		ch <- d.d
	}
}

const (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue
)
