package masterd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// The metrics endpoint (metrics=, off by default): the master serves GET
// /metrics in the Prometheus text format on a TCP address or a Unix
// socket. Workers never listen: at each scrape the master asks them for
// their counters over IPC (metrics_collect.go). Only one scrape runs at a
// time; a second waits its turn or gives up with its client.

const (
	metricsReadTimeout  = 5 * time.Second
	metricsWriteTimeout = 15 * time.Second
	metricsMaxHeader    = 8 << 10
	// maxMetricsConns bounds the connections the master holds open for
	// /metrics at once: each is a descriptor and a goroutine of the
	// privileged process, and on a TCP address anybody who can reach it
	// can connect. More wait in the kernel's backlog.
	maxMetricsConns = 8
)

// listenMetrics opens addr: an absolute path is a Unix socket (a stale
// socket file is replaced; its mode follows the control socket's:
// 0600, or 0660 for control-group), anything else host:port.
func (m *master) listenMetrics(addr string) (net.Listener, error) {
	if !strings.HasPrefix(addr, "/") {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		return l, nil
	}
	access, err := controlAccessFor(m.cfg)
	if err != nil {
		return nil, err
	}
	l, err := listenControl(addr, access)
	if err != nil {
		return nil, fmt.Errorf("metrics socket: %w", err)
	}
	return l, nil
}

// serveMetrics serves /metrics on addr until ctx ends.
func (m *master) serveMetrics(ctx context.Context, addr string) error {
	l, err := m.listenMetrics(addr)
	if err != nil {
		return err
	}
	m.log.printf("master", "metrics on %s", l.Addr())
	return m.serveMetricsOn(ctx, l)
}

// serveMetricsOn serves /metrics on l, at most maxMetricsConns
// connections at once, until ctx ends; it closes l.
func (m *master) serveMetricsOn(ctx context.Context, l net.Listener) error {
	l = netutil.LimitListener(l, maxMetricsConns)
	turn := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		select {
		case turn <- struct{}{}:
			defer func() { <-turn }()
		case <-r.Context().Done():
			return
		}
		body := m.scrape(r.Context(), time.Now())
		w.Header().Set("Content-Type", metricsContentType)
		_, _ = w.Write(body)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: metricsReadTimeout,
		ReadTimeout:       metricsReadTimeout,
		WriteTimeout:      metricsWriteTimeout,
		MaxHeaderBytes:    metricsMaxHeader,
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}
