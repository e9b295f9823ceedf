package metrics

import "github.com/prometheus/client_golang/prometheus"

// casCollector reads the CAS's statistics at each scrape, so that the
// values are exact without the CAS knowing about metrics.
type casCollector struct {
	stats CASStats
}

var (
	casBytesDesc     = prometheus.NewDesc("actiond_cas_bytes", "Bytes of blobs in the CAS, counted against its limit.", nil, nil)
	casMaxBytesDesc  = prometheus.NewDesc("actiond_cas_max_bytes", "The CAS's size limit, beyond which it evicts the least recently used blobs.", nil, nil)
	casBlobsDesc     = prometheus.NewDesc("actiond_cas_blobs", "Blobs in the CAS.", nil, nil)
	casReservedDesc  = prometheus.NewDesc("actiond_cas_reserved_bytes", "Bytes promised to uploads and outputs being written.", nil, nil)
	casEvictionsDesc = prometheus.NewDesc("actiond_cas_evictions_total", "Blobs evicted to stay under the limit.", nil, nil)
	casSyncsDesc     = prometheus.NewDesc("actiond_cas_flushes_total", "Filesystem flushes (syncfs) run to make blobs durable.", nil, nil)
	casSyncFailDesc  = prometheus.NewDesc("actiond_cas_flush_failures_total", "Filesystem flushes that failed; the blobs they covered were dropped.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c casCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{casBytesDesc, casMaxBytesDesc, casBlobsDesc, casReservedDesc, casEvictionsDesc, casSyncsDesc, casSyncFailDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c casCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats.Stats()
	ch <- prometheus.MustNewConstMetric(casBytesDesc, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(casMaxBytesDesc, prometheus.GaugeValue, float64(st.MaxBytes))
	ch <- prometheus.MustNewConstMetric(casBlobsDesc, prometheus.GaugeValue, float64(st.Blobs))
	ch <- prometheus.MustNewConstMetric(casReservedDesc, prometheus.GaugeValue, float64(st.Reserved))
	ch <- prometheus.MustNewConstMetric(casEvictionsDesc, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(casSyncsDesc, prometheus.CounterValue, float64(st.Syncs))
	ch <- prometheus.MustNewConstMetric(casSyncFailDesc, prometheus.CounterValue, float64(st.SyncFailures))
}
