package statuspage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/actiond/actiond/go/digest"
)

const (
	// maxStderrBytes bounds the stderr shown through the page; an
	// action's stderr is at most executor.MaxStdioBytes.
	maxStderrBytes = 16 << 20
	// sourceTimeout bounds each read from the Source, which may be a VM
	// guest that stopped answering.
	sourceTimeout = 10 * time.Second
)

// Handler serves the status page at /, its data at /status.json, stderr
// blobs at /stderr/HASH/SIZE and the metrics of g at /metrics.
func Handler(src Source, g prometheus.Gatherer, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slogErrorLog{log}, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		snap, err := snapshot(r.Context(), src)
		if err != nil {
			http.Error(w, "reading the daemon's status: "+err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := renderHTML(w, snap); err != nil {
			log.WarnContext(r.Context(), "rendering the status page failed", "error", err.Error())
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		snap, err := snapshot(r.Context(), src)
		if err != nil {
			http.Error(w, "reading the daemon's status: "+err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(snap)
	})
	mux.HandleFunc("GET /stderr/{hash}/{size}", func(w http.ResponseWriter, r *http.Request) {
		size, err := strconv.ParseInt(r.PathValue("size"), 10, 64)
		if err != nil {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		d, err := digest.New(r.PathValue("hash"), size)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), sourceTimeout)
		defer cancel()
		b, err := src.ReadBlob(ctx, d, maxStderrBytes)
		if err != nil {
			http.Error(w, fmt.Sprintf("reading blob %s: %v", d, err), http.StatusNotFound)
			return
		}
		// Plain text whatever the bytes: an action's stderr must not run
		// as a page in the browser.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		_, _ = w.Write(b)
	})
	return securityHeaders(mux)
}
