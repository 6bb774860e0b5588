package proxy

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/tailgate-proxy/tailgate/router"
)

// FuzzHandshake feeds arbitrary bytes to the connection phase as a client's answer to the
// greeting: whatever they are, the connection ends without a panic escaping and the
// handler returns.
func FuzzHandshake(f *testing.F) {
	resp := binary.LittleEndian.AppendUint32(nil, mysql.CLIENT_PROTOCOL_41|mysql.CLIENT_SECURE_CONNECTION|mysql.CLIENT_PLUGIN_AUTH|mysql.CLIENT_CONNECT_ATTRS)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
	resp = append(resp, 33)
	resp = append(resp, make([]byte, 23)...)
	resp = append(resp, "app\x00"...)
	resp = append(resp, 20)
	resp = append(resp, make([]byte, 20)...)
	resp = append(resp, "mysql_native_password\x00"...)
	resp = append(resp, 0x05, 0x03, 'a', 'b', 'c') // truncated attributes
	frame := func(p []byte, seq byte) []byte {
		return append([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}, p...)
	}
	f.Add(frame(resp, 1))
	f.Add(frame(resp[:10], 1))
	f.Add([]byte{0xff, 0xff, 0xff, 1, 0, 0})
	f.Add(frame([]byte{0x0f, 0xa2, 0x80, 0, 0, 0, 0, 1, 33}, 1)) // SSL request without TLS
	f.Add([]byte{})

	s := New(Options{
		Listen:                "127.0.0.1:0",
		HandshakeTimeout:      200 * time.Millisecond,
		MaxAllowedPacket:      1 << 20,
		BackendConnectTimeout: 50 * time.Millisecond,
		Users:                 []User{{Name: "app", Password: "secret"}},
		Primary:               BackendConfig{Name: router.PrimaryName, Address: "127.0.0.1:1"},
	}, router.New(router.Options{}), router.NewClassifier(10))
	s.mysqlSrv = server.NewServer("8.0.11-fuzz", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	f.Fuzz(func(t *testing.T, input []byte) {
		client, srv := net.Pipe()
		done := make(chan struct{})
		s.wg.Add(1)
		go func() {
			defer close(done)
			s.handle(context.Background(), srv)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = client.Write(input)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the handshake handler did not return for input % x", input)
		}
	})
}
