package web

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ServerConfig sets the HTTP server's limits and TLS. Zero fields take the defaults.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default 30s): a client
	// sending its body a byte at a time is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (default 2m). A pcap export extends its own
	// deadline (see exportTimeout).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (default 2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers (default 64 KiB).
	MaxHeaderBytes int
	// TLSCert and TLSKey are PEM files; with both set the server speaks only HTTPS.
	TLSCert, TLSKey string
}

// NewServer returns the http.Server for handler with cfg's timeouts, header cap and,
// when configured, TLS (certificate loaded now, so a bad file fails at start). Serve it
// with Serve.
func NewServer(handler http.Handler, cfg ServerConfig) (*http.Server, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ReadHeaderTimeout, 10*time.Second)
	def(&cfg.ReadTimeout, 30*time.Second)
	def(&cfg.WriteTimeout, 2*time.Minute)
	def(&cfg.IdleTimeout, 2*time.Minute)
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("tls: give both tls_cert and tls_key")
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return srv, nil
}

// Serve serves srv on ln, over TLS when NewServer configured it.
func Serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil && len(srv.TLSConfig.Certificates) > 0 {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// exportTimeout is the write deadline of a pcap export, which streams for as long as
// the call's frames take to send.
const exportTimeout = 15 * time.Minute
