// Package chtest runs a real, throwaway clickhouse-server (the Debian package, 18.16 or
// newer) for tests: its own config, data and logs in a temporary directory, listening on
// free loopback ports (native TCP, HTTP, interserver) on 127.0.0.1 only. It waits until
// the server answers a native-protocol ping, and stops it with SIGTERM at cleanup. Kill
// (SIGKILL) and Restart (same ports, same data) support fault tests.
//
// A Server is owned by one test or one TestMain; its methods are not safe for concurrent
// use. The server process is started with a parent-death signal, so a crashed test binary
// does not leave it running.
package chtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/callscope/callscope/internal/testutil"
)

// ErrNoServer means the clickhouse-server binary is not installed.
var ErrNoServer = errors.New("chtest: clickhouse-server not installed")

// ReadyTimeout bounds how long Start and Restart wait for the server to answer.
const ReadyTimeout = 30 * time.Second

// Server is one running (or killed) clickhouse-server.
type Server struct {
	bin     string
	dir     string
	ownsDir bool
	tcp     int
	http    int
	inter   int
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has been waited for
	waitErr error
}

// Binary returns the path of clickhouse-server, or ErrNoServer.
func Binary() (string, error) {
	for _, p := range []string{"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil
	}
	return "", ErrNoServer
}

// Start starts a server for one test and returns its native-protocol address
// (127.0.0.1:PORT) and a stop function (also registered with t.Cleanup; calling it twice
// is harmless). A missing binary skips the test, or fails it under CI=true.
func Start(t testing.TB) (addr string, stop func()) {
	t.Helper()
	s := Launch(t)
	return s.Addr(), s.Stop
}

// Launch is Start returning the Server, for tests that Kill and Restart it.
func Launch(t testing.TB) *Server {
	t.Helper()
	s, err := New(t.TempDir())
	if errors.Is(err, ErrNoServer) {
		testutil.Missing(t, "clickhouse-server")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Need turns the result of New (called in TestMain) into a usable server for one test:
// it skips (fails under CI=true) when the binary is missing and fails on any other error.
func Need(t testing.TB, s *Server, err error) *Server {
	t.Helper()
	if errors.Is(err, ErrNoServer) {
		testutil.Missing(t, "clickhouse-server")
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// New starts a server with its files under dir; an empty dir makes a temporary directory
// that Stop removes. It is for TestMain, where there is no testing.TB; the caller must
// call Stop.
func New(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	if dir == "" {
		if s.dir, err = os.MkdirTemp("", "chtest-"); err != nil {
			return nil, err
		}
		s.ownsDir = true
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before the server binds it
		if s.tcp, s.http, s.inter, err = freePorts(); err != nil {
			return nil, err
		}
		if err = s.writeConfig(); err != nil {
			return nil, err
		}
		if last = s.start(); last == nil {
			return s, nil
		}
	}
	s.Stop()
	return nil, last
}

// Addr is the native-protocol address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.tcp) }

// URL is the store URL for database db.
func (s *Server) URL(db string) string { return "clickhouse://default:@" + s.Addr() + "/" + db }

// Dir is the directory holding config, data and logs.
func (s *Server) Dir() string { return s.dir }

// Kill stops the server abruptly (SIGKILL) and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same ports with the same data (after Kill).
func (s *Server) Restart() error {
	if s.cmd != nil {
		s.terminate()
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for { // the old process's listening socket may linger for a moment
		if err = s.start(); err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10 s) and removes a directory
// New created. Safe to call more than once.
func (s *Server) Stop() {
	s.terminate()
	if s.ownsDir && s.dir != "" {
		_ = os.RemoveAll(s.dir)
		s.dir = ""
	}
}

func (s *Server) terminate() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chtest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() { // owned by the Server; joined by Kill/terminate through done
		s.waitErr = cmd.Wait()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if err := s.waitReady(ctx, done); err != nil {
		s.terminate()
		log, _ := os.ReadFile(filepath.Join(s.dir, "log", "server.err.log"))
		return fmt.Errorf("chtest: server not ready: %w\noutput: %s\nerror log tail: %s", err, tail(out.Bytes()), tail(log))
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context, done <-chan struct{}) error {
	opts := &clickhouse.Options{
		Addr:        []string{s.Addr()},
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: time.Second,
	}
	for {
		select {
		case <-done:
			return fmt.Errorf("server exited: %v", s.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if conn, err := clickhouse.Open(opts); err == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = conn.Ping(pctx)
			cancel()
			_ = conn.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

func freePorts() (tcp, http, inter int, err error) {
	var ls [3]net.Listener
	var ports [3]int
	for i := range ls {
		if ls[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			break
		}
		ports[i] = ls[i].Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		if l != nil {
			l.Close()
		}
	}
	return ports[0], ports[1], ports[2], err
}

// writeConfig writes a minimal config.xml and users.xml: the packaged config with its
// paths moved into dir, IPv6 listening removed and small caches so tests start fast.
func (s *Server) writeConfig() error {
	for _, d := range []string{"data", "log", "data/tmp", "data/user_files", "data/format_schemas"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	d := s.dir
	cfg := fmt.Sprintf(configXML, d, d, s.tcp, s.http, s.inter, d, d, d, d)
	if err := os.WriteFile(filepath.Join(d, "config.xml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "users.xml"), []byte(usersXML), 0o644)
}

// The config has a one-shard cluster named "callscope_test" (this server alone), so
// Distributed tables can be exercised without ZooKeeper.
const configXML = `<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>%s/log/server.log</log>
        <errorlog>%s/log/server.err.log</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <tcp_port>%d</tcp_port>
    <http_port>%d</http_port>
    <interserver_http_port>%d</interserver_http_port>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>%s/data/</path>
    <tmp_path>%s/data/tmp/</tmp_path>
    <user_files_path>%s/data/user_files/</user_files_path>
    <format_schema_path>%s/data/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <remote_servers>
        <callscope_test>
            <shard><replica><host>127.0.0.1</host><port>` + "%[3]d" + `</port></replica></shard>
        </callscope_test>
    </remote_servers>
</yandex>
`

const usersXML = `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`
